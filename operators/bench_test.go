package operators_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/operators"
)

// In-process benchmarks of the processing core: raw records in, raw records
// out, no broker and no I/O, so the DSL's own cost is measured apart from
// the network. Run:
//
//	go test -run '^$' -bench . -benchtime 2s ./operators/
//
// events/s is reported per benchmark (one goroutine = one core).

func benchTask(b *testing.B, topo *operators.Topology, sub int32) *operators.Task {
	b.Helper()
	tk, err := topo.NewTask(sub, operators.TaskConfig{ApplicationID: "bench", Emit: func(operators.OutputRecord) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tk.Close() })
	return tk
}

func benchInputs(n, keys int) []operators.InputRecord {
	in := make([]operators.InputRecord, n)
	for i := range in {
		in[i] = operators.InputRecord{Topic: "in", Offset: int64(i), Key: []byte("sensor-" + strconv.Itoa(i%keys)),
			Value: []byte(strconv.Itoa(i % 1000)), Timestamp: int64(1_700_000_000_000 + i)}
	}
	return in
}

func runBench(b *testing.B, tk *operators.Task, in []operators.InputRecord, flushEvery int) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &in[i%len(in)]
		r.Timestamp = int64(1_700_000_000_000 + i)
		if err := tk.Process(r); err != nil {
			b.Fatal(err)
		}
		if flushEvery > 0 && i%flushEvery == flushEvery-1 {
			if err := tk.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// parseInt is the benchmarks' value decoding: ASCII integers.
var asciiInt = operators.SerdeFuncs(
	func(dst []byte, v int64) ([]byte, error) { return strconv.AppendInt(dst, v, 10), nil },
	func(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) },
)

func BenchmarkCoreStatelessMapFilter(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	operators.MapValues(s.Filter(func(_ string, v int64) bool { return v%10 != 0 }), func(_ string, v int64) int64 { return v * 2 }).
		WithSerdes(operators.String, asciiInt).To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runBench(b, benchTask(b, topo, 0), benchInputs(4096, 1000), 0)
}

func BenchmarkCoreWindowedCount(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Tumbling(time.Minute))).ToStream().To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	// Flush every 10k records, like a commit interval would.
	runBench(b, benchTask(b, topo, 0), benchInputs(4096, 1000), 10_000)
}

func BenchmarkCoreCount(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	s.GroupByKey().Count().ToStream().To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runBench(b, benchTask(b, topo, 0), benchInputs(4096, 1000), 10_000)
}

func BenchmarkCoreStreamJoin(b *testing.B) {
	bl := operators.NewBuilder()
	l := operators.StreamOf(bl, "in", operators.String, asciiInt)
	r := operators.StreamOf(bl, "in2", operators.String, asciiInt)
	operators.Join(l, r, func(_ string, a, b int64) int64 { return a + b }, operators.JoinWindow(time.Second)).
		WithSerdes(operators.String, asciiInt).To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	in := benchInputs(4096, 1000)
	for i := range in {
		if i%2 == 1 {
			in[i].Topic = "in2"
		}
	}
	runBench(b, benchTask(b, topo, 0), in, 10_000)
}

var _ = fmt.Sprint
