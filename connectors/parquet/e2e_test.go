package parquet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// connectProc is a real `sluice connect` process, killable with SIGKILL.
type connectProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	out  *brokertest.SyncBuffer
}

func startConnect(t *testing.T, brokerAddr, rest string) *connectProc {
	t.Helper()
	p := &connectProc{t: t, url: "http://" + rest, done: make(chan struct{}), out: &brokertest.SyncBuffer{}}
	p.cmd = exec.Command(brokertest.Binary(t), "connect", "--brokers", brokerAddr, "--rest-listen", rest, "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	waitUntil(t, time.Minute, "sluice connect REST API", func() bool {
		select {
		case <-p.done:
			t.Fatalf("sluice connect exited:\n%s", p.out.String())
		default:
		}
		code, _ := p.call("GET", "/connectors", nil)
		return code == http.StatusOK
	})
	return p
}

func (p *connectProc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *connectProc) call(method, path string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countRows counts the rows of every committed file under dir by id.
func countRows(t *testing.T, dir string) map[int]int {
	seen := map[int]int{}
	for _, rows := range readDir(t, dir) {
		for _, r := range rows {
			var v struct{ ID int }
			if err := json.Unmarshal([]byte(r), &v); err != nil {
				t.Fatalf("row %s: %v", r, err)
			}
			seen[v.ID]++
		}
	}
	return seen
}

// TestEndToEndSinkSurvivesKills runs the Parquet sink in a real `sluice
// connect` process against a real `sluice serve`, kills the worker with
// SIGKILL twice while it writes (so files renamed after the last offset
// commit are replayed), and checks the files read back with parquet-go hold
// every record exactly once, in the directory of its record time.
func TestEndToEndSinkSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve and sluice connect")
	}
	broker := brokertest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	// Record times are in 2024: keep them from time-based retention.
	retention := "-1"
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, -1, map[string]*string{"retention.ms": &retention}, "readings"); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2024, 5, 1, 22, 30, 0, 0, time.UTC)
	const total = 6000
	produce := func(from, to int, at func(n int) time.Time) {
		var recs []*kgo.Record
		for n := from; n < to; n++ {
			recs = append(recs, &kgo.Record{Topic: "readings", Key: []byte(strconv.Itoa(n % 50)), Timestamp: at(n),
				Value: fmt.Appendf(nil, `{"id":%d,"device":"dev-%d","temp":%d.5}`, n, n%50, n%40)})
		}
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	// One record per second from 22:30: files land in three hour directories.
	produce(0, total, func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) })

	dir := t.TempDir()
	rest := brokertest.FreePort(t)
	proc := startConnect(t, broker.Addr, rest)
	code, body := proc.call("POST", "/connectors", map[string]any{"name": "pq-sink", "config": map[string]string{
		"connector.class": SinkPlugin, "topics": "readings", KeyPath: dir, KeyFlushSize: "400",
		"consumer.override.max.poll.records": "150",
	}})
	if code != http.StatusCreated {
		t.Fatalf("create connector: %d %s", code, body)
	}
	rowsAtLeast := func(n int) func() bool {
		return func() bool {
			seen := countRows(t, dir)
			for id := 0; id < n; id++ {
				if seen[id] == 0 {
					return false
				}
			}
			return true
		}
	}
	adm := kadm.NewClient(cl)
	for _, at := range []int{400, 2000} {
		waitUntil(t, 3*time.Minute, fmt.Sprintf("%d rows in files", at), rowsAtLeast(at))
		proc.kill()
		// Files renamed after the group's last commit are the ones the
		// replay must rewrite rather than duplicate.
		committed, err := adm.FetchOffsets(ctx, "connect-pq-sink")
		if err == nil {
			ahead := 0
			for name := range readDir(t, dir) {
				var p int32
				var start int64
				if _, err := fmt.Sscanf(filepath.Base(name), "readings+%d+%d.parquet", &p, &start); err == nil {
					if o, ok := committed.Lookup("readings", p); !ok || start >= o.At {
						ahead++
					}
				}
			}
			t.Logf("killed with %d file(s) renamed after the last offset commit", ahead)
		}
		proc = startConnect(t, broker.Addr, rest)
	}
	// A record a day later closes every open segment (record-time roll), so
	// all of the data must end up in files.
	// (50 keys: both partitions get some.)
	produce(total, total+50, func(int) time.Time { return base.Add(24 * time.Hour) })
	deadline := time.Now().Add(2 * time.Minute)
	for !rowsAtLeast(total)() {
		if time.Now().After(deadline) {
			seen := countRows(t, dir)
			var missing []int
			for id := 0; id < total; id++ {
				if seen[id] == 0 {
					missing = append(missing, id)
				}
			}
			_, status := proc.call("GET", "/connectors/pq-sink/status", nil)
			files := keys(readDir(t, dir))
			lag, lerr := adm.Lag(ctx, "connect-pq-sink")
			t.Logf("group lag: %+v %v", lag, lerr)
			described, _ := adm.DescribeGroups(ctx, "connect-pq-sink")
			t.Logf("group: %+v", described)
			t.Fatalf("%d ids missing (first %v); status %s; files %v\nworker output:\n%s", len(missing), missing[:min(10, len(missing))], status, files, proc.out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // let a duplicate, if any, land

	seen := countRows(t, dir)
	for n := 0; n < total; n++ {
		if seen[n] != 1 {
			t.Errorf("id %d appears %d times", n, seen[n])
		}
	}
	for n := range seen {
		if n < 0 || n >= total+50 {
			t.Errorf("unexpected id %d", n)
		}
	}
	// Every file sits in the directory of its rows' record time.
	for name, rows := range readDir(t, dir) {
		for _, r := range rows {
			var v struct{ ID int }
			_ = json.Unmarshal([]byte(r), &v)
			at := base.Add(time.Duration(v.ID) * time.Second)
			want := at.Format("readings/dt=2006-01-02/hour=15/")
			if len(name) < len(want) || name[:len(want)] != want {
				t.Fatalf("row %d (time %s) is in %s", v.ID, at, name)
			}
		}
	}
	// The only temporaries are the open segments holding the late records.
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") && !strings.Contains(path, "dt=2024-05-02") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
}
