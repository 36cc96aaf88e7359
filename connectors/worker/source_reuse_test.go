package worker_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// refillingSource returns the same slice from every Poll, refilled, as the
// SDK allows: "1", "2", ... up to its limit, 50 a poll.
type refillingSource struct {
	next, limit int
	out         []connectors.Record
}

func (s *refillingSource) Open(_ context.Context, _ connectors.TaskInfo, cfg connectors.Config, _ connectors.Positions) error {
	s.limit = int(cfg.Int("limit"))
	s.out = make([]connectors.Record, 50)
	return nil
}

func (s *refillingSource) Poll(ctx context.Context) ([]connectors.Record, error) {
	if s.next >= s.limit {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	out := s.out[:0]
	for len(out) < cap(out) && s.next < s.limit {
		s.next++
		pos, _ := connectors.NewPosition("n", s.next)
		out = append(out, connectors.Record{Value: []byte(strconv.Itoa(s.next)), Position: pos})
	}
	return out, nil
}

func (s *refillingSource) Commit(context.Context, []connectors.Position) error { return nil }
func (s *refillingSource) Close(context.Context) error                         { return nil }

func init() {
	connectors.Register(connectors.Plugin{Name: "test-refilling-source", Kind: connectors.KindSource,
		Spec:      connectors.ConfigSpec{{Name: "limit", Type: connectors.TypeInt, Required: true}},
		NewSource: func() connectors.Source { return &refillingSource{} }})
}

// TestSourceSliceRefilled: a source may refill the slice it returned once
// it is polled again; the worker has copied what it needs by then, so the
// topic gets every record once, in order.
func TestSourceSliceRefilled(t *testing.T) {
	b := startBroker(t)
	createTopic(t, client(t, b.Addr), "refilled", 1)
	w := startWorker(t, b.Addr)
	const n = 5000
	w.create("refill", map[string]string{"connector.class": "test-refilling-source", "topic": "refilled", "limit": strconv.Itoa(n)})
	got := consumeN(t, b.Addr, "refilled", n)
	for i, r := range got {
		if string(r.Value) != strconv.Itoa(i+1) {
			t.Fatalf("record %d is %q, want %d", i, r.Value, i+1)
		}
	}
}
