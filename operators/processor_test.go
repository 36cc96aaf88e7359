package operators_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

// sumProc keeps a running sum per key in a store and, on each punctuation,
// forwards every sum: a processor-API program with state and both clocks.
type sumProc struct {
	ctx   operators.ProcessorContext[string, string]
	sums  operators.KeyValueStore[string, int64]
	typ   operators.PunctuationType
	calls *[]string
}

var sumStore = operators.NewKeyValueStore("sums", operators.String, operators.Int64)

func (p *sumProc) Init(ctx operators.ProcessorContext[string, string]) error {
	p.ctx = ctx
	var err error
	if p.sums, err = sumStore.From(ctx); err != nil {
		return err
	}
	ctx.Schedule(10*time.Millisecond, p.typ, func(ts int64) error {
		*p.calls = append(*p.calls, fmt.Sprint(ts))
		return p.sums.All(func(k string, v int64) bool {
			ctx.Forward(operators.Record[string, string]{Key: k, Value: fmt.Sprint(v), Timestamp: ts})
			return true
		})
	})
	return nil
}

func (p *sumProc) Process(r operators.Record[string, int64]) error {
	n, _, err := p.sums.Get(r.Key)
	if err != nil {
		return err
	}
	return p.sums.Put(r.Key, n+r.Value)
}

func (p *sumProc) Close() error { return nil }

func sumDriver(t *testing.T, typ operators.PunctuationType, calls *[]string) *testdriver.Driver {
	b := operators.NewBuilder()
	b.AddStore(sumStore)
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	operators.Process(s, func() operators.Processor[string, int64, string, string] { return &sumProc{typ: typ, calls: calls} },
		[]string{"sums"}).WithSerdes(operators.String, operators.String).To("out")
	return mustDriver(t, b)
}

func TestProcessorStreamTimePunctuation(t *testing.T) {
	var calls []string
	d := sumDriver(t, operators.StreamTime, &calls)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 100)) // first record: punctuates at 100
	must(t, in.Pipe("b", 2, 105))
	must(t, in.Pipe("a", 3, 109))
	must(t, in.Pipe("a", 4, 108)) // out of order: stream time stays 109
	must(t, in.Pipe("b", 5, 135)) // jumps past 110, 120, 130: punctuates once, at 135
	must(t, d.AdvanceWallClock(time.Hour))
	// Stream time reached 100 (first punctuation), then 109 (< 110: none),
	// then jumped to 135: one punctuation, not three.
	expect(t, calls, "100", "135")
	expect(t, readStr(t, d, "out"), "a=1@100", "a=8@135", "b=7@135")
}

func TestProcessorWallClockPunctuation(t *testing.T) {
	var calls []string
	d := sumDriver(t, operators.WallClockTime, &calls)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 100))
	must(t, d.AdvanceWallClock(5*time.Millisecond))
	if len(calls) != 0 {
		t.Fatalf("punctuated early: %v", calls)
	}
	must(t, d.AdvanceWallClock(5*time.Millisecond))
	must(t, in.Pipe("a", 1, 1_000_000)) // stream time does not drive wall-clock punctuation
	must(t, d.AdvanceWallClock(25*time.Millisecond))
	if len(calls) != 2 {
		t.Fatalf("calls = %v", calls)
	}
	got := readStr(t, d, "out")
	if len(got) != 2 || got[0][:4] != "a=1@" || got[1][:4] != "a=2@" {
		t.Fatalf("out = %v", got)
	}
}

func TestStoreTTLExpires(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	s.GroupByKey().Count(operators.Materialized("c", operators.TTL(100*time.Millisecond))).ToStream().To("out")
	d := mustDriver(t, b)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 0, 1000))
	must(t, in.Pipe("a", 0, 1050))
	must(t, in.Pipe("b", 0, 1200)) // a last written at 1050: expired after 1150
	must(t, in.Pipe("a", 0, 1201))
	recs, err := testdriver.Output(d, "out", operators.String, operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s=%d", r.Key, r.Value))
	}
	expect(t, got, "a=1", "a=2", "b=1", "a=1")
	// The sweep removed the expired entry from the store itself.
	must(t, in.Pipe("c", 0, 5000))
	raw, err := d.RawStore("c")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	must(t, raw.Range(nil, nil, func(k, _ []byte) bool { keys = append(keys, string(k)); return true }))
	expect(t, keys, "c")
}

func TestAggregateSkipsTombstonesAndTableDeletes(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	s.GroupByKey().Reduce(func(a, v int64) int64 { return a + v }).ToStream().To("sum")
	tb := s.ToTable(operators.Materialized("latest"))
	tb.ToStream().To("latest-out")
	d := mustDriver(t, b)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 5, 1))
	must(t, in.PipeTombstone("a", 2))
	must(t, in.Pipe("a", 7, 3))
	sums, _ := testdriver.Output(d, "sum", operators.String, operators.Int64).ReadAll()
	if len(sums) != 2 || sums[1].Value != 12 {
		t.Fatalf("sums = %+v", sums)
	}
	latest, _ := testdriver.Output(d, "latest-out", operators.String, operators.Int64).ReadAll()
	if len(latest) != 3 || !latest[1].Tombstone || latest[2].Value != 7 {
		t.Fatalf("latest = %+v", latest)
	}
	kv, err := tb.Store().FromTask(d.TaskWithStore("latest"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := kv.Get("a"); err != nil || !ok || v != 7 {
		t.Fatalf("store a = %v %v %v", v, ok, err)
	}
}
