package engine_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// stProc forwards, for every record, the task's stream time as its value.
type stProc struct {
	ctx operators.ProcessorContext[string, string]
}

func (p *stProc) Init(ctx operators.ProcessorContext[string, string]) error { p.ctx = ctx; return nil }
func (p *stProc) Close() error                                              { return nil }
func (p *stProc) Process(r operators.Record[string, string]) error {
	p.ctx.Forward(operators.Record[string, string]{Key: r.Key, Value: strconv.FormatInt(p.ctx.StreamTime(), 10), Timestamp: r.Timestamp})
	return nil
}

// TestStreamTimeSurvivesRestart: the stream time is committed with the
// offsets and a restarted application resumes from it, on a fresh state
// directory: a store without a changelog starts empty but does not reopen
// windows that had closed, and the processor API sees the old stream time.
func TestStreamTimeSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 1, "st-in", "st-windows", "st-times")
	bl := operators.NewBuilder()
	in := operators.StreamOf(bl, "st-in", operators.String, operators.String)
	operators.CountWindowed(in.GroupByKey().WindowedBy(operators.Tumbling(time.Second)), operators.EmitOnClose(),
		operators.Materialized("st-counts", operators.WithoutChangelog())).ToStream().To("st-windows")
	operators.ProcessValues(in, func() operators.Processor[string, string, string, string] { return &stProc{} }, nil).
		WithSerdes(operators.String, operators.String).To("st-times")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Recent event times (retention deletes records by their timestamps),
	// aligned to the windows.
	base := time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()
	rec := func(ts int64) *kgo.Record {
		return &kgo.Record{Topic: "st-in", Key: []byte("k"), Value: []byte("v"), Timestamp: time.UnixMilli(base + ts)}
	}
	cfg := func() engine.Config {
		return engine.Config{ApplicationID: "st-app", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond}
	}

	_, stop := runApp(t, topo, cfg())
	produce(t, b.Addr, rec(100), rec(500), rec(1200))
	var windows []string
	readWindows := func(n int) {
		windows = windows[:0]
		consumeUntil(t, b.Addr, "st-windows", 60*time.Second, func(r *kgo.Record) bool {
			w, err := operators.WindowedSerde(operators.String).Deserialize(r.Key)
			if err != nil {
				t.Fatal(err)
			}
			c, _ := operators.Int64.Deserialize(r.Value)
			windows = append(windows, strconv.FormatInt(w.Start-base, 10)+"="+strconv.FormatInt(c, 10))
			return len(windows) == n
		})
	}
	readWindows(1)
	stop() // commits

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "st-app")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup("st-in", 0)
	if !ok || o.Err != nil || o.At != 3 {
		t.Fatalf("committed offset: %+v %v", o, ok)
	}
	st, ok, err := engine.DecodeStreamTime(o.Metadata)
	if err != nil || !ok || st != base+1200 {
		t.Fatalf("committed stream time %d %v %v (metadata %q), want %d", st, ok, err, o.Metadata, base+1200)
	}

	// Restart on a new state directory: the window store starts empty.
	// 300 belongs to the closed window [0,1000): late, dropped, nothing
	// emitted for it. 1500 and 2100 finish [1000,2000), whose earlier
	// record (1200) was in the store without changelog that was lost.
	app, stop := runApp(t, topo, cfg())
	defer stop()
	produce(t, b.Addr, rec(300), rec(1500), rec(2100))
	readWindows(2)
	if windows[0] != "0=2" || windows[1] != "1000=1" {
		t.Fatalf("windows = %v, want [0=2 1000=1]", windows)
	}
	var times []string
	consumeUntil(t, b.Addr, "st-times", 60*time.Second, func(r *kgo.Record) bool {
		n, _ := strconv.ParseInt(string(r.Value), 10, 64)
		times = append(times, strconv.FormatInt(n-base, 10))
		return len(times) == 6
	})
	want := []string{"100", "500", "1200", "1200", "1500", "2100"}
	for i := range want {
		if times[i] != want[i] {
			t.Fatalf("stream times seen = %v, want %v", times, want)
		}
	}
	waitFor(t, "stream time metric", 30*time.Second, func() bool {
		return metricSum(t, app, "sluice_engine_stream_time_seconds") == float64(base+2100)/1000
	})
}
