package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
)

// TestPauseResumeRestart drives a sink through pause, resume and task
// restart over REST, and checks the paused state survives a worker restart.
func TestPauseResumeRestart(t *testing.T) {
	b := startBroker(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	cl := client(t, b.Addr)
	produce(t, cl, "in", `1`, `2`)
	w := startWorker(t, b.Addr)
	w.create("dst", map[string]string{"connector.class": "file-sink", "file": out, "topics": "in"})
	waitFileLines(t, out, 2)

	w.mustCall("PUT", "/connectors/dst/pause", nil, http.StatusAccepted)
	st := w.waitState("dst", worker.StatePaused)
	if st.Connector.WorkerID != "test-worker" || st.Type != "sink" {
		t.Fatalf("status %+v", st)
	}
	produce(t, cl, "in", `3`)
	// Paused: nothing is delivered. (Absence can only be checked by
	// waiting; several flush intervals is plenty for a running task.)
	time.Sleep(time.Second)
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 2 {
		t.Fatalf("paused connector delivered: %q", b)
	}
	// The pause is stored in the configs topic: it survives a restart.
	w.stop()
	w = startWorker(t, b.Addr)
	w.waitState("dst", worker.StatePaused)
	w.mustCall("PUT", "/connectors/dst/resume", nil, http.StatusAccepted)
	w.waitState("dst", worker.StateRunning)
	waitFileLines(t, out, 3)

	w.mustCall("POST", "/connectors/dst/tasks/0/restart", nil, http.StatusNoContent)
	w.waitState("dst", worker.StateRunning)
	produce(t, cl, "in", `4`)
	if got := waitFileLines(t, out, 4); strings.Join(got, ",") != "1,2,3,4" {
		t.Fatalf("output %q", got)
	}
	w.mustCall("POST", "/connectors/dst/restart", nil, http.StatusNoContent)
	w.mustCall("POST", "/connectors/dst/tasks/7/restart", nil, http.StatusNotFound)

	w.mustCall("DELETE", "/connectors/dst", nil, http.StatusNoContent)
	w.mustCall("GET", "/connectors/dst/status", nil, http.StatusNotFound)
	var names []string
	w.call("GET", "/connectors", nil, &names)
	if len(names) != 0 {
		t.Fatalf("connectors after delete: %v", names)
	}
}

// TestRESTValidationAndErrors checks per-field validation errors in Kafka
// Connect's validate shape and the JSON error bodies.
func TestRESTValidationAndErrors(t *testing.T) {
	b := startBroker(t)
	w := startWorker(t, b.Addr)

	var res worker.ValidateResult
	code := w.call("PUT", "/connector-plugins/file-sink/config/validate",
		map[string]any{"format": "xml", "rotate.bytes": "lots", "errors.tolerance": "some", "tasks.max": 0}, &res)
	if code != http.StatusOK {
		t.Fatalf("validate: %d", code)
	}
	errs := map[string]string{}
	for _, c := range res.Configs {
		if len(c.Value.Errors) > 0 {
			errs[c.Definition.Name] = strings.Join(c.Value.Errors, "; ")
		}
	}
	want := map[string]string{
		"name":             "required",
		"file":             "required",
		"format":           `"xml" is not one of json, csv, text`,
		"rotate.bytes":     "not an integer",
		"errors.tolerance": `"some" is not one of none, all`,
		"tasks.max":        "must be between 1 and 1024",
		"topics":           "set topics or topics.regex",
	}
	for k, v := range want {
		if !strings.Contains(errs[k], v) {
			t.Errorf("validate %s: errors %q, want %q", k, errs[k], v)
		}
	}
	if res.ErrorCount != len(errs) || res.Name != "file-sink" || len(res.Groups) == 0 {
		t.Errorf("validate result: error_count=%d (fields with errors %d), name=%q groups=%v", res.ErrorCount, len(errs), res.Name, res.Groups)
	}

	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if code := w.call("POST", "/connectors", map[string]any{"name": "bad", "config": map[string]string{"connector.class": "file-sink", "topics": "x"}}, &e); code != 400 ||
		e.Code != 400 || !strings.Contains(e.Message, "file: required") {
		t.Errorf("create invalid: %d %+v", code, e)
	}
	if code := w.call("POST", "/connectors", map[string]any{"name": "bad", "config": map[string]string{"connector.class": "nope"}}, &e); code != 400 ||
		!strings.Contains(e.Message, `no connector plugin named "nope"`) {
		t.Errorf("create unknown plugin: %d %+v", code, e)
	}
	if code := w.call("GET", "/connectors/missing/status", nil, &e); code != 404 || e.Code != 404 || !strings.Contains(e.Message, "missing") {
		t.Errorf("missing: %d %+v", code, e)
	}
	if code := w.call("POST", "/connectors", `{"name":`, &e); code != 400 || !strings.Contains(e.Message, "not valid JSON") {
		t.Errorf("bad json: %d %+v", code, e)
	}
	if code := w.call("PUT", "/connector-plugins/nope/config/validate", map[string]string{}, &e); code != 404 {
		t.Errorf("validate unknown plugin: %d %+v", code, e)
	}
	cfg := map[string]string{"connector.class": "file-sink", "topics": "x", "file": filepath.Join(t.TempDir(), "o")}
	w.create("ok", cfg)
	if code := w.call("POST", "/connectors", map[string]any{"name": "ok", "config": cfg}, &e); code != 409 {
		t.Errorf("duplicate: %d %+v", code, e)
	}
	var plugins []worker.PluginInfo
	w.call("GET", "/connector-plugins", nil, &plugins)
	found := 0
	for _, p := range plugins {
		if p.Class == "file-sink" && p.Type == "sink" || p.Class == "file-source" && p.Type == "source" {
			found++
		}
	}
	if found != 2 {
		t.Errorf("plugins %+v", plugins)
	}
	var info worker.ConnectorInfo
	w.call("GET", "/connectors/ok", nil, &info)
	if info.Name != "ok" || info.Config["name"] != "ok" || len(info.Tasks) != 1 || info.Type != "sink" {
		t.Errorf("info %+v", info)
	}
	var patched worker.ConnectorInfo
	if code := w.call("PATCH", "/connectors/ok/config", map[string]any{"rotate.bytes": "1000", "csv.columns": nil}, &patched); code != 200 ||
		patched.Config["rotate.bytes"] != "1000" || patched.Config["topics"] != "x" {
		t.Errorf("patch: %d %+v", code, patched)
	}
	if code := w.call("PUT", "/connectors/ok/config", map[string]string{"name": "other"}, &e); code != 400 {
		t.Errorf("name mismatch: %d %+v", code, e)
	}
}

// TestRESTBeforeReady: a call made while the worker is still starting waits
// for it instead of deadlocking or failing.
func TestRESTBeforeReady(t *testing.T) {
	b := startBroker(t)
	w, err := worker.New(worker.Config{Brokers: []string{b.Addr}, WorkerID: "early"})
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWorker{t: t, w: w, srv: httptest.NewServer(w.Handler())}
	defer tw.srv.Close()
	result := make(chan int, 1)
	go func() {
		result <- tw.call("POST", "/connectors", map[string]any{"name": "early", "config": map[string]string{
			"connector.class": "file-sink", "topics": "x", "file": filepath.Join(t.TempDir(), "o")}}, nil)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if code := <-result; code != http.StatusCreated {
		t.Fatalf("create before ready: %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
