package operators_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

func mustDriver(t *testing.T, b *operators.Builder) *testdriver.Driver {
	t.Helper()
	topo, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	d, err := testdriver.New(topo, testdriver.Config{})
	if err != nil {
		t.Fatalf("driver: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestStatelessChain(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	even := s.Filter(func(_ string, v int64) bool { return v%2 == 0 })
	doubled := operators.MapValues(even, func(_ string, v int64) int64 { return v * 2 }).WithSerdes(operators.String, operators.Int64)
	doubled.To("out")
	up := operators.SelectKey(s, func(k string, _ int64) string { return strings.ToUpper(k) }).WithSerdes(operators.String, operators.Int64)
	parts := up.Branch(func(_ string, v int64) bool { return v > 2 }, func(string, int64) bool { return true })
	parts[0].To("big")
	parts[1].To("small")
	words := operators.FlatMap(s, func(k string, v int64, emit func(string, string)) {
		for i := int64(0); i < v; i++ {
			emit(k, k)
		}
	}).WithSerdes(operators.String, operators.String)
	words.To("words")
	d := mustDriver(t, b)

	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	for i := int64(1); i <= 4; i++ {
		if err := in.Pipe("k", i, 1000*i); err != nil {
			t.Fatal(err)
		}
	}
	out, err := testdriver.Output(d, "out", operators.String, operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Value != 4 || out[1].Value != 8 || out[1].Timestamp != 4000 {
		t.Fatalf("out = %+v", out)
	}
	big, _ := testdriver.Output(d, "big", operators.String, operators.Int64).ReadAll()
	small, _ := testdriver.Output(d, "small", operators.String, operators.Int64).ReadAll()
	if len(big) != 2 || len(small) != 2 || big[0].Key != "K" || big[0].Value != 3 {
		t.Fatalf("big=%+v small=%+v", big, small)
	}
	w, _ := testdriver.Output(d, "words", operators.String, operators.String).ReadAll()
	if len(w) != 1+2+3+4 {
		t.Fatalf("words = %d", len(w))
	}
}

func TestBadRecordIsReportedAndSkipped(t *testing.T) {
	b := operators.NewBuilder()
	operators.StreamOf(b, "in", operators.String, operators.Int64).To("out")
	d := mustDriver(t, b)
	err := d.PipeRaw("in", []byte("k"), []byte{1, 2, 3}, 5)
	if !errors.Is(err, operators.ErrBadRecord) || !strings.Contains(err.Error(), "in/0@0") {
		t.Fatalf("err = %v", err)
	}
	if err := testdriver.Input(d, "in", operators.String, operators.Int64).Pipe("k", 7, 6); err != nil {
		t.Fatalf("driver unusable after a bad record: %v", err)
	}
	out, _ := testdriver.Output(d, "out", operators.String, operators.Int64).ReadAll()
	if len(out) != 1 || out[0].Value != 7 {
		t.Fatalf("out = %+v", out)
	}
}

func TestBuildErrors(t *testing.T) {
	b := operators.NewBuilder()
	operators.StreamOf(b, "in", operators.String, operators.String)
	operators.StreamOf(b, "in", operators.String, operators.String)
	s := operators.Map(operators.StreamOf(b, "x", operators.String, operators.String), func(k, v string) (string, string) { return k, v })
	s.To("out")
	_, err := b.Build()
	if !errors.Is(err, operators.ErrTopology) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{`topic "in" is read by two sources`, `to "out": the stream has no serdes`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := operators.NewBuilder().Build(); err == nil {
		t.Fatal("empty topology built")
	}
}

func TestDescribe(t *testing.T) {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.String)
	s.Filter(func(k, v string) bool { return v != "" }).To("out")
	s.Repartition(operators.Named("rk")).To("out2")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	got := topo.Describe()
	want := `Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [in])
      --> KSTREAM-FILTER-0000000001, rk-sink
    Processor: KSTREAM-FILTER-0000000001 (stores: [])
      --> KSTREAM-SINK-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Sink: KSTREAM-SINK-0000000002 (topic: out)
      <-- KSTREAM-FILTER-0000000001
    Sink: rk-sink (topic: <app-id>-rk-repartition)
      <-- KSTREAM-SOURCE-0000000000

   Sub-topology: 1
    Source: rk-source (topics: [<app-id>-rk-repartition])
      --> KSTREAM-SINK-0000000005
    Sink: KSTREAM-SINK-0000000005 (topic: out2)
      <-- rk-source

`
	if got != want {
		t.Fatalf("Describe:\n%s\nwant:\n%s", got, want)
	}
}
