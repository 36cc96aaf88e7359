package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// keepingSink keeps every batch slice it is given, as the SDK allows a
// sink that does not implement connectors.BatchReuser to do; reusingSink
// says it keeps nothing and notes whether it saw one slice refilled.
type keepingSink struct{}

var kept struct {
	sync.Mutex
	batches [][]connectors.Record
	reused  bool
	first   *connectors.Record
}

func (s *keepingSink) Open(context.Context, connectors.TaskInfo, connectors.Config) error { return nil }
func (s *keepingSink) Write(_ context.Context, batch []connectors.Record) error {
	kept.Lock()
	defer kept.Unlock()
	kept.batches = append(kept.batches, batch)
	return nil
}
func (s *keepingSink) Flush(_ context.Context, w connectors.Offsets) (connectors.Offsets, error) {
	return w, nil
}
func (s *keepingSink) Close(context.Context) error { return nil }

type reusingSink struct{ keepingSink }

func (s *reusingSink) ReuseBatches() bool { return true }
func (s *reusingSink) Write(_ context.Context, batch []connectors.Record) error {
	kept.Lock()
	defer kept.Unlock()
	if len(batch) > 0 {
		if kept.first == &batch[0] {
			kept.reused = true
		}
		kept.first = &batch[0]
	}
	return nil
}

func init() {
	connectors.Register(connectors.Plugin{Name: "test-keeping-sink", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return &keepingSink{} }})
	connectors.Register(connectors.Plugin{Name: "test-reusing-sink", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return &reusingSink{} }})
}

// TestSinkBatchReuse: the worker hands a sink a fresh slice per batch
// unless the sink says it keeps nothing of it (connectors.BatchReuser).
func TestSinkBatchReuse(t *testing.T) {
	b := startBroker(t)
	var values []string
	for i := 0; i < 300; i++ {
		values = append(values, fmt.Sprintf("v%03d", i))
	}
	produce(t, client(t, b.Addr), "reuse", values...)
	w := startWorker(t, b.Addr)

	w.create("keep", map[string]string{"connector.class": "test-keeping-sink", "topics": "reuse",
		"consumer.override.max.poll.records": "7"})
	var got []string
	waitFor(t, "every record kept", func() bool {
		kept.Lock()
		defer kept.Unlock()
		got = got[:0]
		for _, batch := range kept.batches {
			for _, r := range batch {
				got = append(got, string(r.Value))
			}
		}
		return len(got) >= len(values)
	})
	if fmt.Sprint(got) != fmt.Sprint(values) {
		t.Fatalf("kept batches changed after Write returned:\n%v", got)
	}

	w.create("reuse", map[string]string{"connector.class": "test-reusing-sink", "topics": "reuse",
		"consumer.override.max.poll.records": "7"})
	waitFor(t, "a refilled batch", func() bool {
		kept.Lock()
		defer kept.Unlock()
		return kept.reused
	})
}
