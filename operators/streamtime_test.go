package operators_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

// What a task does when it resumes with the stream time committed with its
// offsets (TaskConfig.StreamTime), as after a restart.

func finalCountTopology(t *testing.T, opts ...operators.StoreOption) *operators.Topology {
	t.Helper()
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Tumbling(100*time.Millisecond)),
		operators.EmitOnClose(), operators.Materialized("counts", opts...)).ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// A store that starts empty (no changelog) takes the restored stream time:
// replayed records for windows that closed before the restart are late.
func TestRestoredStreamTimeEmptyStore(t *testing.T) {
	topo := finalCountTopology(t, operators.WithoutChangelog())
	d, err := testdriver.New(topo, testdriver.Config{StreamTime: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 950))  // window [900,1000) closed at 1000: late
	must(t, in.Pipe("a", 1, 999))  // late too
	must(t, in.Pipe("a", 1, 1000)) // window [1000,1100)
	must(t, in.Pipe("a", 1, 1100)) // closes it
	expect(t, readWin(t, d, "out"), "a[1000,1100]=1")
	if n := d.TaskWithStore("counts").LateDropped(); n != 2 {
		t.Fatalf("late dropped = %d, want 2", n)
	}
	if st := d.Task(0).StreamTime(); st != 1100 {
		t.Fatalf("stream time = %d, want 1100", st)
	}
}

// A restarted task on its old stores, replaying the input after its last
// commit: windows that closed before stay closed and are not emitted again;
// windows open at the commit are finished by the replay.
func TestRestartReplayDoesNotReemitClosedWindows(t *testing.T) {
	topo := finalCountTopology(t)
	dir := t.TempDir()
	pebbleCfg := func(st int64) testdriver.Config {
		return testdriver.Config{StreamTime: st, OpenStore: func(spec state.Spec) (state.KeyValueStore, error) {
			return state.OpenPebble(spec.Name, filepath.Join(dir, spec.Name), state.PebbleOptions{})
		}}
	}
	input := []int64{10, 50, 120, 150, 190, 230, 260, 310}
	commitAt := 5 // the driver flushes after every record: "committed" after input[:5]

	d1, err := testdriver.New(topo, pebbleCfg(0))
	if err != nil {
		t.Fatal(err)
	}
	in := testdriver.Input(d1, "in", operators.String, operators.Int64)
	for _, ts := range input[:commitAt] {
		must(t, in.Pipe("a", 1, ts))
	}
	committed := d1.Task(0).StreamTime()
	expect(t, readWin(t, d1, "out"), "a[0,100]=2")
	must(t, d1.Close())

	// The restart: same stores, the committed stream time, the input from
	// the committed position on, and a copy of an old record (a duplicate
	// from an upstream replay) that must not reopen [0,100).
	d2, err := testdriver.New(topo, pebbleCfg(committed))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	in = testdriver.Input(d2, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 50))
	for _, ts := range input[commitAt:] {
		must(t, in.Pipe("a", 1, ts))
	}
	expect(t, readWin(t, d2, "out"), "a[100,200]=3", "a[200,300]=2")
	if n := d2.Task(0).LateDropped(); n != 1 {
		t.Fatalf("late dropped = %d, want 1", n)
	}
}

// Stream-time punctuations resume from the restored stream time instead of
// firing again for replayed records.
func TestRestoredStreamTimePunctuation(t *testing.T) {
	var calls []string
	b := operators.NewBuilder()
	b.AddStore(sumStore)
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	operators.Process(s, func() operators.Processor[string, int64, string, string] {
		return &sumProc{typ: operators.StreamTime, calls: &calls}
	}, []string{"sums"}).WithSerdes(operators.String, operators.String).To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	d, err := testdriver.New(topo, testdriver.Config{StreamTime: 135})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	must(t, in.Pipe("a", 1, 120)) // replayed: stream time stays 135
	must(t, in.Pipe("a", 1, 140)) // next punctuation is due at 145
	must(t, in.Pipe("a", 1, 146))
	expect(t, calls, "146")
}
