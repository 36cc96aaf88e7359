package operators_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

type winOut struct {
	key        string
	start, end int64
	v          int64
	tomb       bool
}

func (w winOut) String() string {
	if w.tomb {
		return fmt.Sprintf("%s[%d,%d]=DEL", w.key, w.start, w.end)
	}
	return fmt.Sprintf("%s[%d,%d]=%d", w.key, w.start, w.end, w.v)
}

func readWin(t *testing.T, d *testdriver.Driver, topic string) []string {
	t.Helper()
	recs, err := testdriver.Output(d, topic, operators.WindowedSerde(operators.String), operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, winOut{r.Key.Key, r.Key.Start, r.Key.End, r.Value, r.Tombstone}.String())
	}
	return out
}

func windowTopo(t *testing.T, w operators.Windows, opts ...operators.Option) *testdriver.Driver {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	operators.CountWindowed(s.GroupByKey().WindowedBy(w), opts...).ToStream().To("out")
	return mustDriver(t, b)
}

type pipe struct {
	k  string
	ts int64
}

func pipeAll(t *testing.T, d *testdriver.Driver, recs ...pipe) {
	t.Helper()
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	for _, r := range recs {
		if err := in.Pipe(r.k, 1, r.ts); err != nil {
			t.Fatal(err)
		}
	}
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestTumblingOutOfOrderAndGrace(t *testing.T) {
	d := windowTopo(t, operators.Tumbling(10*time.Millisecond).Grace(5*time.Millisecond))
	pipeAll(t, d, pipe{"a", 1}, pipe{"a", 12}, pipe{"a", 5}, pipe{"a", 15}, pipe{"a", 9}, pipe{"b", 21}, pipe{"a", 3})
	// stream time 15 → close time 10: window [0,10) still open at ts=9 arrival
	// (end 10 > 10? no: closed) — see below.
	expect(t, readWin(t, d, "out"),
		"a[0,10]=1", "a[10,20]=1", "a[0,10]=2", "a[10,20]=2", "b[20,30]=1")
}

func TestHoppingEmitOnClose(t *testing.T) {
	d := windowTopo(t, operators.Hopping(10*time.Millisecond, 5*time.Millisecond), operators.EmitOnClose())
	pipeAll(t, d, pipe{"a", 7}, pipe{"a", 8}, pipe{"a", 12})
	expect(t, readWin(t, d, "out"), "a[0,10]=2")
	pipeAll(t, d, pipe{"a", 30})
	expect(t, readWin(t, d, "out"), "a[5,15]=3", "a[10,20]=1")
}

func TestSessionMerge(t *testing.T) {
	d := windowTopo(t, operators.Session(10*time.Millisecond).Grace(50*time.Millisecond))
	pipeAll(t, d, pipe{"a", 0}, pipe{"a", 20}, pipe{"a", 10}, pipe{"a", 31})
	expect(t, readWin(t, d, "out"), "a[0,0]=1", "a[20,20]=1", "a[0,0]=DEL", "a[20,20]=DEL", "a[0,20]=3", "a[31,31]=1")
}

func TestSlidingCounts(t *testing.T) {
	d := windowTopo(t, operators.Sliding(10*time.Millisecond).Grace(100*time.Millisecond))
	pipeAll(t, d, pipe{"a", 10}, pipe{"a", 15}, pipe{"a", 30}, pipe{"a", 12})
	expect(t, readWin(t, d, "out"), "a[0,10]=1", "a[5,15]=2", "a[20,30]=1", "a[5,15]=3", "a[2,12]=2")
}

func TestFetchWindowsReadsStore(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	tbl := operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Tumbling(10*time.Millisecond).Grace(100*time.Millisecond)), operators.Materialized("w"))
	tbl.ToStream().To("out")
	d := mustDriver(t, b)
	pipeAll(t, d, pipe{"a", 1}, pipe{"a", 5}, pipe{"a", 12}, pipe{"b", 3})
	rows, err := operators.FetchWindows[string, int64](d.TaskWithStore(tbl.StoreName()), "w", operators.String, "a", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("[%d,%d]=%d", r.Start, r.End, r.Value))
	}
	expect(t, got, "[0,10]=2", "[10,20]=1")
}
