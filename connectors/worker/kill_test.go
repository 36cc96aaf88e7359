package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// connectProc is a `sluice connect` process.
type connectProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	out  *brokertest.SyncBuffer
}

func startConnectProc(t *testing.T, bin, brokerAddr, rest string, args ...string) *connectProc {
	t.Helper()
	p := &connectProc{t: t, url: "http://" + rest, done: make(chan struct{}), out: &brokertest.SyncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"connect", "--brokers", brokerAddr, "--rest-listen", rest}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	waitFor(t, "sluice connect REST", func() bool {
		select {
		case <-p.done:
			t.Fatalf("sluice connect exited:\n%s", p.out.String())
		default:
		}
		resp, err := http.Get(p.url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
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

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	// A torn last line (no newline yet) is not a line.
	s := string(b)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	} else {
		return nil
	}
	return strings.Split(s, "\n")
}

// dedupInOrder drops lines equal to one already seen.
func dedupInOrder(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range in {
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out
}

// TestKillWorkerProcess runs file → topic → file in a `sluice connect`
// process and kills it with SIGKILL while it works, several times. Nothing
// may be lost; the source side is at-least-once (a batch produced but not
// yet recorded may be sent again), and the file sink holds exactly what the
// topic holds, in order, with no torn or repeated lines.
func TestKillWorkerProcess(t *testing.T) {
	b := startBroker(t)
	bin := brokertest.Binary(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	props := filepath.Join(dir, "worker.properties")
	if err := os.WriteFile(props, []byte("offset.flush.interval.ms=100\ntask.shutdown.graceful.timeout.ms=5000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src.json")
	dst := filepath.Join(dir, "dst.properties")
	os.WriteFile(src, []byte(fmt.Sprintf(`{"name":"src","config":{"connector.class":"file-source","file":%q,"tail":true,"topic":"rows","poll.interval":"20ms","batch.size":50}}`, in)), 0o644)
	os.WriteFile(dst, []byte(fmt.Sprintf("name=dst\nconnector.class=file-sink\nfile=%s\ntopics=rows\nconsumer.override.max.poll.records=37\n", out)), 0o644)
	rest := brokertest.FreePort(t)

	rounds, total := 5, 6000
	if testing.Short() {
		rounds, total = 2, 2000
	}
	// A writer appends to the input while the worker is killed at
	// arbitrary moments.
	input := lines(total, 0)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f, err := os.OpenFile(in, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 0; i < len(input); i += 20 {
			if _, err := f.WriteString(strings.Join(input[i:min(i+20, len(input))], "\n") + "\n"); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for round := 0; round < rounds; round++ {
		p := startConnectProc(t, bin, b.Addr, rest, "--config", props, src, dst)
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		p.kill()
	}
	<-writerDone
	p := startConnectProc(t, bin, b.Addr, rest, "--config", props, src, dst)
	adm := kadm.NewClient(client(t, b.Addr))
	var got []string
	waitFor(t, "every line delivered", func() bool {
		got = readLines(out)
		ends, err := adm.ListEndOffsets(context.Background(), "rows")
		if err != nil {
			return false
		}
		end, _ := ends.Lookup("rows", 0)
		return int64(len(got)) == end.Offset && len(dedupInOrder(got)) == len(input)
	})
	p.kill()

	// No loss, and in order.
	uniq := dedupInOrder(got)
	for i := range input {
		if uniq[i] != input[i] {
			t.Fatalf("line %d: got %s want %s", i, uniq[i], input[i])
		}
	}
	// The sink wrote exactly the topic's contents.
	recs := consumeN(t, b.Addr, "rows", len(got))
	for i, r := range recs {
		if string(r.Value) != got[i] {
			t.Fatalf("output line %d is %s but topic record %d is %s", i, got[i], i, r.Value)
		}
	}
	t.Logf("%d input lines, %d in the topic after %d SIGKILLs (%d re-sent by the at-least-once source)",
		len(input), len(got), rounds, len(got)-len(input))
}
