package worker_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
)

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return "<none>"
}

// TestDeadLetterQueue: a record the sink refuses goes to the dead-letter
// topic with the original bytes and headers plus __connect.errors.*; the
// rest are written and committed.
func TestDeadLetterQueue(t *testing.T) {
	b := startBroker(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	cl := client(t, b.Addr)
	bad := &kgo.Record{Topic: "in", Key: []byte("k1"), Value: []byte("this is not json"),
		Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("sensor-7")}}}
	produce(t, cl, "in", `{"a":1}`)
	if err := cl.ProduceSync(t.Context(), bad).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, "in", `{"a":3}`, "<tomb>", `{"a":5}`)

	w := startWorker(t, b.Addr)
	w.create("dst", map[string]string{"connector.class": "file-sink", "file": out, "topics": "in",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "dlq", "errors.log.enable": "true"})
	got := waitFileLines(t, out, 3)
	if strings.Join(got, " ") != `{"a":1} {"a":3} {"a":5}` {
		t.Fatalf("output %q", got)
	}
	dl := consumeN(t, b.Addr, "dlq", 1)[0]
	if string(dl.Key) != "k1" || string(dl.Value) != "this is not json" || header(dl, "origin") != "sensor-7" {
		t.Fatalf("dead letter lost the original record: key=%q value=%q headers=%v", dl.Key, dl.Value, dl.Headers)
	}
	for k, want := range map[string]string{
		worker.HeaderErrTopic:     "in",
		worker.HeaderErrPartition: "0",
		worker.HeaderErrOffset:    "1",
		worker.HeaderErrConnector: "dst",
		worker.HeaderErrTask:      "0",
		worker.HeaderErrStage:     "TASK_PUT",
		worker.HeaderErrClass:     "file-sink",
	} {
		if got := header(dl, k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if msg := header(dl, worker.HeaderErrExcMessage); !strings.Contains(msg, "not valid JSON") {
		t.Errorf("exception message %q", msg)
	}
	if st := w.status("dst"); st.Tasks[0].State != worker.StateRunning {
		t.Fatalf("task %+v", st.Tasks[0])
	}
	// The group committed past everything, the bad record included.
	var offs struct {
		Offsets []worker.OffsetInfo `json:"offsets"`
	}
	waitFor(t, "committed offset 5", func() bool {
		w.call("GET", "/connectors/dst/offsets", nil, &offs)
		return len(offs.Offsets) == 1 && fmt.Sprint(offs.Offsets[0].Offset.(map[string]any)["kafka_offset"]) == "5"
	})
}

// TestToleranceNoneFailsTask: with errors.tolerance=none the task fails
// with a trace naming the record, commits nothing past it, and a restart
// (after the bad record is still there) fails again rather than skipping.
func TestToleranceNoneFailsTask(t *testing.T) {
	b := startBroker(t)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	cl := client(t, b.Addr)
	produce(t, cl, "in", `{"a":1}`, `{broken`, `{"a":3}`)
	w := startWorker(t, b.Addr)
	w.create("dst", map[string]string{"connector.class": "file-sink", "file": out, "topics": "in"})
	st := w.waitState("dst", worker.StateFailed)
	if tr := st.Tasks[0].Trace; !strings.Contains(tr, "in-0@1") || !strings.Contains(tr, "errors.tolerance=none") {
		t.Fatalf("trace %q", tr)
	}
	if st.Connector.State != worker.StateRunning {
		t.Fatalf("connector state %s (a task failure is the task's)", st.Connector.State)
	}
	var restarted worker.ConnectorStatus
	if code := w.call("POST", "/connectors/dst/restart?includeTasks=true&onlyFailed=true", nil, &restarted); code != http.StatusAccepted {
		t.Fatalf("restart: %d", code)
	}
	w.waitState("dst", worker.StateFailed)
	// Switching to tolerance=all gets it through.
	w.mustCall("PUT", "/connectors/dst/config", map[string]string{"connector.class": "file-sink", "file": out, "topics": "in",
		"errors.tolerance": "all"}, http.StatusOK)
	w.waitState("dst", worker.StateRunning)
	if got := waitFileLines(t, out, 2); strings.Join(got, " ") != `{"a":1} {"a":3}` {
		t.Fatalf("output %q", got)
	}
}
