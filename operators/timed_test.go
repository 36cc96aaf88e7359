package operators_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

// latest keeps the value with the largest timestamp (ties: the later
// arrival): "last by event time", which arrival order cannot give.
type latest struct {
	TS int64
	V  int64
}

func keepLatest(_ string, v int64, ts int64, acc latest) latest {
	if ts >= acc.TS {
		return latest{ts, v}
	}
	return acc
}

func TestAggregateTimed(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	agg := operators.AggregateTimed(s.GroupByKey(), func() latest { return latest{TS: -1} }, keepLatest, operators.JSON[latest]())
	operators.MapValues(agg.ToStream(), func(_ string, l latest) string { return strconv.FormatInt(l.V, 10) }).
		WithSerdes(operators.String, operators.String).To("out")
	d := mustDriver(t, b)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 100))
	must(t, in.Pipe("a", 2, 50)) // older: the latest stays 1
	must(t, in.Pipe("a", 3, 150))
	expect(t, readStr(t, d, "out"), "a=1@100", "a=1@50", "a=3@150")
}

// A sliding window created for an out-of-order record is folded from its
// buffered records, each with its own timestamp.
func TestAggregateWindowedTimedSliding(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	w := s.GroupByKey().WindowedBy(operators.Sliding(100 * time.Millisecond).Grace(time.Second))
	agg := operators.AggregateWindowedTimed(w, func() latest { return latest{TS: -1} }, keepLatest, operators.JSON[latest]())
	operators.Map(agg.ToStream(), func(k operators.Windowed[string], l latest) (string, string) {
		return k.Key, strconv.FormatInt(l.V, 10)
	}).WithSerdes(operators.String, operators.String).To("out")
	d := mustDriver(t, b)
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 7, 100))
	must(t, in.Pipe("a", 9, 90)) // its window [-10,90] holds only itself; [0,100] gets it but 7 stays latest
	must(t, in.Pipe("a", 5, 95)) // window [-5,95] folds 9@90 and 5@95: latest 5; [0,100] keeps 7
	expect(t, readStr(t, d, "out"), "a=7@100", "a=7@90", "a=9@90", "a=7@95", "a=5@95")
}
