package worker_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
)

// TestFileRoundTripAndResume moves a JSON-lines file through a topic into
// another file, restarts the worker in the middle, and checks the output is
// exactly the input: nothing lost, nothing duplicated.
func TestFileRoundTripAndResume(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out.jsonl")
	first := lines(1500, 0)
	writeLines(t, in, first)

	w := startWorker(t, b.Addr)
	w.create("src", map[string]string{"connector.class": "file-source", "file": in, "tail": "true",
		"topic": "rows", "poll.interval": "50ms", "batch.size": "100"})
	w.create("dst", map[string]string{"connector.class": "file-sink", "file": out, "topics": "rows"})
	w.waitState("src", worker.StateRunning)
	w.waitState("dst", worker.StateRunning)
	waitFileLines(t, out, len(first))

	// Restart the worker; lines written while it is down are picked up
	// from the stored source position, and the sink resumes from its
	// checkpoint.
	w.stop()
	second := lines(700, len(first))
	writeLines(t, in, second)
	w = startWorker(t, b.Addr)
	var names []string
	w.call("GET", "/connectors", nil, &names)
	if strings.Join(names, ",") != "dst,src" {
		t.Fatalf("connectors after restart: %v", names)
	}
	got := waitFileLines(t, out, len(first)+len(second))
	want := append(first, second...)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %s want %s", i, got[i], want[i])
		}
	}
	// The topic holds each line exactly once too.
	recs := consumeN(t, b.Addr, "rows", len(want))
	for i, r := range recs {
		if string(r.Value) != want[i] {
			t.Fatalf("topic record %d: %s, want %s", i, r.Value, want[i])
		}
	}
	// Source offsets are visible through the REST API (KIP-875 shape).
	var offs struct {
		Offsets []worker.OffsetInfo `json:"offsets"`
	}
	w.mustCall("GET", "/connectors/src/offsets", nil, http.StatusOK)
	w.call("GET", "/connectors/src/offsets", nil, &offs)
	if len(offs.Offsets) != 1 || offs.Offsets[0].Partition["partition"] != in {
		t.Fatalf("source offsets %+v", offs)
	}
}

// TestSinkTasksSharePartitions: tasks.max=2 runs two group members that
// split a four-partition topic; together they write every record once.
func TestSinkTasksSharePartitions(t *testing.T) {
	b := startBroker(t)
	cl := client(t, b.Addr)
	createTopic(t, cl, "wide", 4)
	want := lines(400, 0)
	dir := t.TempDir()
	w := startWorker(t, b.Addr)
	w.create("dst", map[string]string{"connector.class": "file-sink", "file": filepath.Join(dir, "out.jsonl"),
		"topics": "wide", "tasks.max": "2"})
	st := w.waitState("dst", worker.StateRunning)
	if len(st.Tasks) != 2 {
		t.Fatalf("tasks %+v", st.Tasks)
	}
	adm := kadm.NewClient(cl)
	waitFor(t, "both members assigned", func() bool {
		groups, err := adm.DescribeGroups(context.Background(), "connect-dst")
		if err != nil {
			return false
		}
		g := groups["connect-dst"]
		if g.State != "Stable" || len(g.Members) != 2 {
			return false
		}
		for _, m := range g.Members {
			if a, ok := m.Assigned.AsConsumer(); !ok || len(a.Topics) == 0 {
				return false
			}
		}
		return true
	})
	rr := client(t, b.Addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produce(t, rr, "wide", want...)
	var got []string
	waitFor(t, "all records", func() bool {
		got = append(readLines(filepath.Join(dir, "out.jsonl")), readLines(filepath.Join(dir, "out-task1.jsonl"))...)
		return len(got) >= len(want)
	})
	if len(got) != len(want) {
		t.Fatalf("%d records written, want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	for _, l := range want {
		if !seen[l] {
			t.Fatalf("missing %s", l)
		}
	}
	if len(readLines(filepath.Join(dir, "out.jsonl"))) == 0 || len(readLines(filepath.Join(dir, "out-task1.jsonl"))) == 0 {
		t.Fatalf("one task got every partition")
	}
}
