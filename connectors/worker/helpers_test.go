package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	_ "github.com/sluicehq/sluice/connectors/file"
	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// testWorker is a worker running in this process against a real broker,
// with its REST API on an httptest server.
type testWorker struct {
	t      testing.TB
	w      *worker.Worker
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
	base   string // REST base URL when there is no in-process server
}

func startWorker(t testing.TB, brokerAddr string) *testWorker {
	t.Helper()
	return startWorkerID(t, brokerAddr, "test-worker")
}

// startWorkerID starts a worker with the given id (workers sharing the
// internal topics need distinct ids).
func startWorkerID(t testing.TB, brokerAddr, id string) *testWorker {
	t.Helper()
	return startWorkerLog(t, brokerAddr, id, nil)
}

// startWorkerLog is startWorkerID also writing the worker's log to logs.
func startWorkerLog(t testing.TB, brokerAddr, id string, logs io.Writer) *testWorker {
	t.Helper()
	return startWorkerWith(t, brokerAddr, id, logs, nil)
}

// startWorkerWith is startWorkerLog with the config changed by mod (when
// not nil) before the worker is made.
func startWorkerWith(t testing.TB, brokerAddr, id string, logs io.Writer, mod func(*worker.Config)) *testWorker {
	t.Helper()
	var out io.Writer = testWriter{t}
	if logs != nil {
		out = io.MultiWriter(out, logs)
	}
	cfg := worker.Config{
		Brokers:             []string{brokerAddr},
		WorkerID:            id,
		OffsetFlushInterval: 200 * time.Millisecond,
		ShutdownTimeout:     10 * time.Second,
		Logger:              slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tw := &testWorker{t: t, w: w, srv: httptest.NewServer(w.Handler()), cancel: cancel, done: make(chan error, 1)}
	go func() { tw.done <- w.Run(ctx) }()
	t.Cleanup(tw.stop)
	waitFor(t, "worker ready", func() bool { return w.Ready() })
	return tw
}

// stop shuts the worker down gracefully and waits for it.
func (tw *testWorker) stop() {
	if tw.cancel == nil {
		return
	}
	tw.cancel()
	tw.cancel = nil
	select {
	case err := <-tw.done:
		if err != nil {
			tw.t.Errorf("worker.Run: %v", err)
		}
	case <-time.After(60 * time.Second):
		tw.t.Errorf("worker did not stop")
	}
	tw.srv.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// call makes a REST call and decodes the JSON response into out (if not
// nil); it returns the status code.
func (tw *testWorker) call(method, path string, body any, out any) int {
	tw.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	base := tw.base
	if tw.srv != nil {
		base = tw.srv.URL
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tw.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			tw.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (tw *testWorker) mustCall(method, path string, body any, want int) {
	tw.t.Helper()
	var raw json.RawMessage
	if code := tw.call(method, path, body, &raw); code != want {
		tw.t.Fatalf("%s %s = %d %s, want %d", method, path, code, raw, want)
	}
}

func (tw *testWorker) create(name string, cfg map[string]string) {
	tw.t.Helper()
	tw.mustCall("POST", "/connectors", map[string]any{"name": name, "config": cfg}, http.StatusCreated)
}

func (tw *testWorker) status(name string) worker.ConnectorStatus {
	tw.t.Helper()
	var st worker.ConnectorStatus
	if code := tw.call("GET", "/connectors/"+name+"/status", nil, &st); code != http.StatusOK {
		tw.t.Fatalf("status %s: %d", name, code)
	}
	return st
}

// waitState waits until the connector and all its tasks are in state.
func (tw *testWorker) waitState(name, state string) worker.ConnectorStatus {
	tw.t.Helper()
	var st worker.ConnectorStatus
	waitFor(tw.t, name+" "+state, func() bool {
		st = tw.status(name)
		if st.Connector.State != state && !(state == worker.StateFailed && len(st.Tasks) > 0) || len(st.Tasks) == 0 {
			return false
		}
		for _, t := range st.Tasks {
			if t.State != state {
				return false
			}
		}
		return true
	})
	return st
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (this bounds a hang; it is not a speed assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func startBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts sluice serve")
	}
	return brokertest.Start(t)
}

func client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic makes a topic with n partitions (the broker may not
// auto-create).
func createTopic(t testing.TB, cl *kgo.Client, topic string, n int32) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), n, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

func produce(t testing.TB, cl *kgo.Client, topic string, values ...string) {
	t.Helper()
	createTopic(t, cl, topic, 1)
	var recs []*kgo.Record
	for _, v := range values {
		r := &kgo.Record{Topic: topic, Value: []byte(v)}
		if v == "<tomb>" {
			r.Value = nil
		}
		recs = append(recs, r)
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// consumeN reads n records of topic from the start.
func consumeN(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s", len(out), n, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func lines(n, from int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"id":%d,"name":"row %d","amount":"%d.%02d"}`, from+i, from+i, from+i, (from+i)%100)
	}
	return out
}

func writeLines(t testing.TB, path string, ls []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range ls {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFileLines waits until path holds exactly want lines and returns them.
func waitFileLines(t testing.TB, path string, want int) []string {
	t.Helper()
	var got []string
	waitFor(t, fmt.Sprintf("%d lines in %s", want, path), func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		got = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(b) == 0 {
			got = nil
		}
		if len(got) > want {
			t.Fatalf("%s has %d lines, more than the %d expected", path, len(got), want)
		}
		return len(got) == want
	})
	return got
}
