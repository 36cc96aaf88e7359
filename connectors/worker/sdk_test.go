package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
)

// Test plugins written against the SDK as a third party would.

// countingSource emits "1", "2", ... up to its "limit", ten per poll, with
// the number as its position; it fails its first poll with a retriable
// error, and records what Commit was told.
type countingSource struct {
	next, limit int
	polls       int
}

var sourceCommits struct {
	sync.Mutex
	seen []int
}

func (s *countingSource) Open(_ context.Context, _ connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.limit = int(cfg.Int("limit"))
	var last int
	if ok, err := committed.Decode("counter", &last); err != nil {
		return err
	} else if ok {
		s.next = last
	}
	return nil
}

func (s *countingSource) Poll(ctx context.Context) ([]connectors.Record, error) {
	s.polls++
	if s.polls == 1 {
		return nil, connectors.Retriable(errors.New("upstream warming up"))
	}
	var out []connectors.Record
	for len(out) < 10 && s.next < s.limit {
		s.next++
		pos, _ := connectors.NewPosition("counter", s.next)
		out = append(out, connectors.Record{Value: []byte(strconv.Itoa(s.next)), Position: pos})
	}
	if len(out) == 0 {
		<-ctx.Done() // idle until stopped or woken
		return nil, ctx.Err()
	}
	return out, nil
}

func (s *countingSource) Commit(_ context.Context, positions []connectors.Position) error {
	sourceCommits.Lock()
	defer sourceCommits.Unlock()
	for _, p := range positions {
		n, _ := strconv.Atoi(string(p.Offset))
		sourceCommits.seen = append(sourceCommits.seen, n)
	}
	return nil
}

func (s *countingSource) Close(context.Context) error { return nil }

// flakySink fails its first three writes with a retriable error, then
// keeps what it is given.
type flakySink struct{ writes int }

var flaky struct {
	sync.Mutex
	got []string
}

func (s *flakySink) Open(context.Context, connectors.TaskInfo, connectors.Config) error { return nil }
func (s *flakySink) Write(_ context.Context, batch []connectors.Record) error {
	s.writes++
	if s.writes <= 3 {
		return connectors.Retriable(fmt.Errorf("database restarting (attempt %d)", s.writes))
	}
	flaky.Lock()
	defer flaky.Unlock()
	for _, r := range batch {
		flaky.got = append(flaky.got, string(r.Value))
	}
	return nil
}
func (s *flakySink) Flush(_ context.Context, w connectors.Offsets) (connectors.Offsets, error) {
	return w, nil
}
func (s *flakySink) Close(context.Context) error { return nil }

func init() {
	connectors.Register(connectors.Plugin{Name: "test-counting-source", Kind: connectors.KindSource,
		Spec:      connectors.ConfigSpec{{Name: "limit", Type: connectors.TypeInt, Required: true}},
		NewSource: func() connectors.Source { return &countingSource{} }})
	connectors.Register(connectors.Plugin{Name: "test-flaky-sink", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return &flakySink{} }})
}

// TestRetriesAndSourceCommits: retriable errors are retried (the tasks stay
// RUNNING), a source resumes from its stored position after a worker
// restart, and Commit only ever moves forward, to positions of records the
// log has.
func TestRetriesAndSourceCommits(t *testing.T) {
	b := startBroker(t)
	sourceCommits.Lock()
	sourceCommits.seen = nil // other tests use the plugin too
	sourceCommits.Unlock()
	w := startWorker(t, b.Addr)
	w.create("count", map[string]string{"connector.class": "test-counting-source", "topic": "numbers", "limit": "95"})
	w.create("flaky", map[string]string{"connector.class": "test-flaky-sink", "topics": "numbers"})
	waitFor(t, "95 numbers", func() bool {
		flaky.Lock()
		defer flaky.Unlock()
		return len(flaky.got) >= 95
	})
	w.stop()
	w = startWorker(t, b.Addr)
	w.mustCall("PUT", "/connectors/count/config", map[string]string{"connector.class": "test-counting-source", "topic": "numbers", "limit": "130"}, 200)
	waitFor(t, "130 numbers", func() bool {
		flaky.Lock()
		defer flaky.Unlock()
		return len(flaky.got) >= 130
	})
	w.waitState("flaky", worker.StateRunning)
	flaky.Lock()
	for i, v := range flaky.got {
		if v != strconv.Itoa(i+1) {
			t.Fatalf("record %d is %s: %v", i, v, flaky.got)
		}
	}
	if len(flaky.got) != 130 {
		t.Fatalf("%d records delivered, want 130 exactly", len(flaky.got))
	}
	flaky.Unlock()
	sourceCommits.Lock()
	defer sourceCommits.Unlock()
	for i := 1; i < len(sourceCommits.seen); i++ {
		if sourceCommits.seen[i] <= sourceCommits.seen[i-1] {
			t.Fatalf("commits went backwards: %v", sourceCommits.seen)
		}
	}
	if last := sourceCommits.seen[len(sourceCommits.seen)-1]; last != 130 {
		t.Fatalf("last commit %d, want 130", last)
	}
}
