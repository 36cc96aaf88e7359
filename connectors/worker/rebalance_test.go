package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// slowSink takes a while over every batch and counts every value it is
// given, across all its tasks.
type slowSink struct{}

var slow struct {
	sync.Mutex
	got map[string]int
}

func (s *slowSink) Open(context.Context, connectors.TaskInfo, connectors.Config) error { return nil }
func (s *slowSink) Write(ctx context.Context, batch []connectors.Record) error {
	time.Sleep(20 * time.Millisecond)
	slow.Lock()
	defer slow.Unlock()
	for _, r := range batch {
		slow.got[string(r.Value)]++
	}
	return nil
}
func (s *slowSink) Flush(_ context.Context, w connectors.Offsets) (connectors.Offsets, error) {
	return w, nil
}
func (s *slowSink) Close(context.Context) error { return nil }

func init() {
	connectors.Register(connectors.Plugin{Name: "test-slow-sink", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return &slowSink{} }})
}

// TestSinkRebalanceDuringLargePoll: a sink task takes everything its client
// has buffered and writes it in batches; when a second worker joins the
// group meanwhile, the task gives back what it has not delivered (rewinding
// the client) so the rebalance goes ahead. Every record is still written
// exactly once across the two workers.
func TestSinkRebalanceDuringLargePoll(t *testing.T) {
	b := startBroker(t)
	cl := client(t, b.Addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	createTopic(t, cl, "backlog", 2)
	const n = 40000
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: "backlog", Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	slow.Lock()
	slow.got = map[string]int{}
	slow.Unlock()
	progress := func() int {
		slow.Lock()
		defer slow.Unlock()
		return len(slow.got)
	}

	logs := &lockedBuffer{}
	a := startWorkerLog(t, b.Addr, "worker-a", logs)
	a.create("slow", map[string]string{"connector.class": "test-slow-sink", "topics": "backlog"})
	waitFor(t, "the first batches", func() bool { return progress() > 0 })
	startWorkerLog(t, b.Addr, "worker-b", logs)
	waitFor(t, "every record", func() bool { return progress() >= n })
	time.Sleep(300 * time.Millisecond) // give a duplicate, if any, time to land

	slow.Lock()
	defer slow.Unlock()
	for i := 0; i < n; i++ {
		if c := slow.got[fmt.Sprintf("v%d", i)]; c != 1 {
			t.Fatalf("record v%d written %d times", i, c)
		}
	}
	if len(slow.got) != n {
		t.Fatalf("%d distinct values written, want %d", len(slow.got), n)
	}
	t.Logf("a task gave polled records back during the rebalance: %v",
		strings.Contains(logs.String(), "returned polled records to the client"))
}

// lockedBuffer collects log text from several workers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
