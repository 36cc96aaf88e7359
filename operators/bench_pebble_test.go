package operators_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/operators"
)

// Windowed operations over Pebble stores, as the engine runs them with
// on-disk state (no changelog here: that cost is the broker's). The data is
// shaped like the payments example: 200 cards, a payment every ~600ms of
// event time in mostly increasing order. Run:
//
//	go test -run '^$' -bench 'Pebble' -benchtime 20000x ./operators/

func pebbleTask(b *testing.B, topo *operators.Topology) *operators.Task {
	b.Helper()
	dir := b.TempDir()
	tk, err := topo.NewTask(0, operators.TaskConfig{ApplicationID: "bench",
		Emit: func(operators.OutputRecord) error { return nil },
		OpenStore: func(spec state.Spec) (state.KeyValueStore, error) {
			return state.OpenPebble(spec.Name, dir+"/"+spec.Name, state.PebbleOptions{})
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tk.Close() })
	return tk
}

// paymentInputs: cards keys, one record every ~600ms with up to 2s of
// disorder.
func paymentInputs(n, cards int) []operators.InputRecord {
	rng := rand.New(rand.NewPCG(1, 2))
	in := make([]operators.InputRecord, n)
	base := int64(1_700_000_000_000)
	for i := range in {
		in[i] = operators.InputRecord{Topic: "in", Offset: int64(i), Key: []byte("card-" + strconv.Itoa(rng.IntN(cards))),
			Value: []byte(strconv.Itoa(rng.IntN(500))), Timestamp: base + int64(i)*600 - rng.Int64N(2000)}
	}
	return in
}

func runPebbleBench(b *testing.B, topo *operators.Topology, topics ...string) {
	tk := pebbleTask(b, topo)
	in := paymentInputs(max(b.N, 1), 200)
	if len(topics) > 0 {
		for i := range in {
			in[i].Topic = topics[i%len(topics)]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := tk.Process(&in[i]); err != nil {
			b.Fatal(err)
		}
		// A commit every 1000 records.
		if i%1000 == 999 {
			if err := tk.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tk.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPebbleSlidingCount(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Sliding(5 * time.Minute))).ToStream().To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runPebbleBench(b, topo)
}

func BenchmarkPebbleTumblingCount(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Tumbling(time.Minute).Grace(5*time.Second)), operators.EmitOnClose()).ToStream().To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runPebbleBench(b, topo)
}

func BenchmarkPebbleSessionCount(b *testing.B) {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "in", operators.String, asciiInt)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Session(2 * time.Minute))).ToStream().To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runPebbleBench(b, topo)
}

func BenchmarkPebbleStreamJoin(b *testing.B) {
	bl := operators.NewBuilder()
	l := operators.StreamOf(bl, "in", operators.String, asciiInt)
	r := operators.StreamOf(bl, "in2", operators.String, asciiInt)
	operators.LeftJoin(l, r, func(_ string, a int64, b *int64) int64 { return a }, operators.JoinWindow(time.Minute)).
		WithSerdes(operators.String, asciiInt).To("out")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	runPebbleBench(b, topo, "in", "in2")
}
