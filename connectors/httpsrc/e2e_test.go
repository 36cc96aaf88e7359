package httpsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

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

func ingest(t *testing.T, addr, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/ingest", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func payments(from, to int) string {
	var b strings.Builder
	for n := from; n < to; n++ {
		fmt.Fprintf(&b, `{"account":"acct-%d","n":%d,"amount":"%d.00"}`+"\n", n%7, n, n)
	}
	return b.String()
}

// topicRecords reads the whole topic (it stops after a quiet second).
func topicRecords(t *testing.T, addr, topic string) map[int]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int]int{}
	for quiet := 0; quiet < 2; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			var v struct{ N int }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("record %q: %v", r.Value, err)
			}
			if want := fmt.Sprintf("acct-%d", v.N%7); string(r.Key) != want {
				t.Fatalf("record %d key %q; want %s", v.N, r.Key, want)
			}
			seen[v.N]++
			n++
		})
		if n == 0 {
			quiet++
		}
	}
	return seen
}

// TestEndToEndThroughWorker runs the HTTP source in a real `sluice connect`
// against a real `sluice serve`: a 200 means the records are in the topic;
// a bad body writes nothing; a paused connector answers 503; after the
// worker is killed and restarted, ingestion resumes.
func TestEndToEndThroughWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve and sluice connect")
	}
	broker := brokertest.Start(t)
	rest := brokertest.FreePort(t)
	listen := brokertest.FreePort(t)
	proc := startConnect(t, broker.Addr, rest)
	code, body := proc.call("POST", "/connectors", map[string]any{"name": "http-in", "config": map[string]string{
		"connector.class": Plugin, KeyTopic: "payments", KeyListen: listen, KeyToken: token,
		KeyKeyField: "account", KeyStallTimeout: "1s",
	}})
	if code != http.StatusCreated {
		t.Fatalf("create connector: %d %s", code, body)
	}
	waitUntil(t, time.Minute, "HTTP source listening", func() bool {
		code, _ := ingest(t, listen, "")
		return code == http.StatusBadRequest // empty body: up, and refuses it
	})

	if code, body := ingest(t, listen, payments(0, 100)); code != http.StatusOK {
		t.Fatalf("ingest: %d %s", code, body)
	}
	// 200 means durable: the records are readable now.
	seen := topicRecords(t, broker.Addr, "payments")
	if len(seen) != 100 {
		t.Fatalf("topic has %d distinct records after a 200; want 100", len(seen))
	}
	bad := payments(100, 110) + "{\"account\":\"x\",\"n\":\n"
	if code, body := ingest(t, listen, bad); code != http.StatusBadRequest || !strings.Contains(body, `"line":11`) {
		t.Fatalf("bad body: %d %s", code, body)
	}

	// Paused: the worker stops polling; requests get 503 and write nothing.
	if code, body := proc.call("PUT", "/connectors/http-in/pause", nil); code/100 != 2 {
		t.Fatalf("pause: %d %s", code, body)
	}
	acceptedBeforePause := false // the pause takes effect at the worker's next poll
	waitUntil(t, time.Minute, "503 while paused", func() bool {
		code, body := ingest(t, listen, payments(200, 201))
		t.Logf("while pausing: %d %s", code, body)
		// 504 is "outcome unknown": it may be written too.
		acceptedBeforePause = acceptedBeforePause || code == http.StatusOK || code == http.StatusGatewayTimeout
		return code == http.StatusServiceUnavailable
	})
	// Still refused a moment later, and nothing of it is written.
	if code, body := ingest(t, listen, payments(201, 210)); code != http.StatusServiceUnavailable {
		t.Fatalf("paused: %d %s", code, body)
	}
	if code, body := proc.call("PUT", "/connectors/http-in/resume", nil); code/100 != 2 {
		t.Fatalf("resume: %d %s", code, body)
	}
	waitUntil(t, time.Minute, "200 after resume", func() bool {
		code, _ := ingest(t, listen, payments(300, 350))
		return code == http.StatusOK
	})

	proc.kill()
	startConnect(t, broker.Addr, rest) // stopped by its cleanup
	waitUntil(t, time.Minute, "200 after restart", func() bool {
		code, _ := ingest(t, listen, payments(400, 450))
		return code == http.StatusOK
	})

	seen = topicRecords(t, broker.Addr, "payments")
	for n := range seen {
		if n >= 100 && n < 300 && !(n == 200 && acceptedBeforePause) {
			t.Errorf("record %d from a refused request is in the topic", n)
		}
	}
	for _, r := range [][2]int{{0, 100}, {300, 350}, {400, 450}} {
		for n := r[0]; n < r[1]; n++ {
			if seen[n] == 0 {
				t.Errorf("record %d was acknowledged with 200 but is not in the topic", n)
			}
		}
	}
}
