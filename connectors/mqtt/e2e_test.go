package mqtt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
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

// consumeAll reads every record of topic from the start until it has
// seen want distinct payload numbers or the deadline passes.
func consumeAll(t *testing.T, addr, topic string, want int, timeout time.Duration) (map[int]int, []*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[int]int{}
	var recs []*kgo.Record
	deadline := time.Now().Add(timeout)
	for len(seen) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			var v struct{ N int }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("record %q: %v", r.Value, err)
			}
			seen[v.N]++
			recs = append(recs, r)
		})
	}
	return seen, recs
}

// TestEndToEndThroughWorker runs the MQTT source in a real `sluice connect`
// against a real `sluice serve` and a real Mosquitto: the worker is killed
// with SIGKILL mid-stream and messages are published while it is down;
// after the restart every message is in the topic (at least once), keyed by
// its MQTT topic.
func TestEndToEndThroughWorker(t *testing.T) {
	m := startMosquitto(t) // skips in -short mode or without mosquitto
	broker := brokertest.Start(t)
	pub := publisher(t, m.addr)
	rest := brokertest.FreePort(t)
	proc := startConnect(t, broker.Addr, rest)
	code, body := proc.call("POST", "/connectors", map[string]any{"name": "mqtt-in", "config": map[string]string{
		"connector.class": Plugin, KeyBrokers: "tcp://" + m.addr, KeyTopics: "sensors/+/temp",
		KeyClientID: "sluice-e2e", KeyKafkaTopic: "iot.{mqtt.topic.0}",
	}})
	if code != http.StatusCreated {
		t.Fatalf("create connector: %d %s", code, body)
	}
	// The subscription exists once the task is running.
	waitUntil(t, time.Minute, "task running", func() bool {
		_, st := proc.call("GET", "/connectors/mqtt-in/status", nil)
		return bytes.Contains([]byte(st), []byte(`"tasks":[{"id":0,"state":"RUNNING"`))
	})
	publish(t, pub, 0, 300)
	seen, _ := consumeAll(t, broker.Addr, "iot.sensors", 20, time.Minute)
	if len(seen) < 20 {
		t.Fatalf("only %d messages reached the topic", len(seen))
	}
	proc.kill()
	publish(t, pub, 300, 500) // queued by Mosquitto for the persistent session
	proc = startConnect(t, broker.Addr, rest)

	seen, recs := consumeAll(t, broker.Addr, "iot.sensors", 500, 2*time.Minute)
	for n := 0; n < 500; n++ {
		if seen[n] == 0 {
			t.Errorf("message %d never reached the topic", n)
		}
	}
	dups := 0
	for _, c := range seen {
		dups += c - 1
	}
	t.Logf("%d records for 500 messages (%d redelivered after the kill)", len(recs), dups)
	for _, r := range recs {
		var v struct{ N int }
		_ = json.Unmarshal(r.Value, &v)
		if want := fmt.Sprintf("sensors/dev-%d/temp", v.N%5); string(r.Key) != want {
			t.Fatalf("record %d key %q; want %s", v.N, r.Key, want)
		}
	}
}
