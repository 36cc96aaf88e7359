package testdriver_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

// A topology with a repartition runs in the driver: records written to the
// internal topic are fed to the downstream sub-topology at once.
func TestDriverRunsRepartitionedTopology(t *testing.T) {
	b := operators.NewBuilder()
	lines := operators.StreamOf(b, "lines", operators.String, operators.String)
	words := operators.FlatMapValues(lines, func(_ string, l string, emit func(string)) {
		for _, w := range strings.Fields(l) {
			emit(w)
		}
	}).WithSerdes(operators.String, operators.String)
	counts := operators.GroupBy(words, func(_, w string) string { return w }, operators.String).Count(operators.Materialized("counts"))
	counts.ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{ApplicationID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.Input(d, "lines", operators.String, operators.String)
	for _, l := range []string{"a b", "b c", "b"} {
		if err := in.Pipe("", l, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := d.OutputTopics(); !slices.Equal(got, []string{"out"}) {
		t.Fatalf("output topics %v (internal topics must not show)", got)
	}
	recs, err := testdriver.Output(d, "out", operators.String, operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	final := map[string]int64{}
	for _, r := range recs {
		final[r.Key] = r.Value
	}
	if final["a"] != 1 || final["b"] != 3 || final["c"] != 1 || len(recs) != 5 {
		t.Fatalf("counts %v (%d updates)", final, len(recs))
	}
	tk := d.TaskWithStore("counts")
	if tk == nil {
		t.Fatal("no task holds the counts store")
	}
	kv, err := counts.Store().FromTask(tk)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok, err := kv.Get("b"); err != nil || !ok || n != 3 {
		t.Fatalf("store b = %v %v %v", n, ok, err)
	}
	if err := d.PipeRaw("nope", nil, nil, 0); err == nil || errors.Is(err, operators.ErrBadRecord) {
		t.Fatalf("unknown topic: %v", err)
	}
}
