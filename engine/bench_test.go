package engine_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// BenchmarkEngineVsGoka runs the same two jobs — a stateless filter+map and
// a per-key one-minute windowed count — with the Sluice engine and with a
// goka processor, against one real `sluice serve`, in one run, and reports
// events per second of wall time and per CPU-second of the processing
// process ("per core"), and the Sluice/goka ratios. goka has no windows, so
// its windowed job buckets the key by window and counts in its group table
// through a loopback topic, as goka users do. The Sluice jobs run a second
// time with Guarantee: ExactlyOnce (default 100ms commit interval, one
// transaction each), and the exactly-once/at-least-once ratios are the
// cost of transactions. CPU per core counts the benchmark process only;
// the broker's share of writing transaction markers is not in it (wall
// time includes it).
//
//	make build && SLUICE_BIN=$PWD/bin/sluice go test -run '^$' -bench EngineVsGoka -benchtime 1x ./engine/
//
// SLUICE_BENCH_EVENTS sets the input size (default 3000000: smaller inputs measure mostly start-up, joining the group and the first fetches);
// SLUICE_BENCH_ONLY=sluice (or goka, or "sluice eos") runs one side.
func BenchmarkEngineVsGoka(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a broker")
	}
	n := 3_000_000
	if s := os.Getenv("SLUICE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	const partitions = 4
	br := brokertest.Start(b)
	createTopics(b, br.Addr, partitions, "bench-in", "bench-out-s", "bench-out-w", "bench-out-gs", "bench-out-gw", "bench-out-es", "bench-out-ew")
	produceBenchInput(b, br.Addr, n)

	type result struct {
		name           string
		wall, cpu      float64
		evWall, evCore float64
	}
	only := os.Getenv("SLUICE_BENCH_ONLY") // "sluice" or "goka": profile one side
	run := func(name, group string, extraTopics []string, start func(ctx context.Context) (stop func())) result {
		if only != "" && !strings.HasPrefix(name, only) {
			return result{name: name, evCore: 1, evWall: 1}
		}
		runtimeGC()
		u0 := cpuSeconds()
		t0 := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		stop := start(ctx)
		waitCommitted(b, br.Addr, group, n, extraTopics)
		wall := time.Since(t0).Seconds()
		cpu := cpuSeconds() - u0
		cancel()
		stop()
		r := result{name: name, wall: wall, cpu: cpu, evWall: float64(n) / wall, evCore: float64(n) / cpu}
		b.Logf("%-18s %8d events  wall %6.2fs  cpu %6.2fs  %10.0f events/s  %10.0f events/s/core", name, n, wall, cpu, r.evWall, r.evCore)
		return r
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sluiceWith := func(g engine.Guarantee, topo *operators.Topology, group string) func(ctx context.Context) func() {
		return func(ctx context.Context) func() {
			app, err := engine.New(topo, engine.Config{ApplicationID: group, Brokers: []string{br.Addr}, StateDir: b.TempDir(), Logger: quiet, Guarantee: g})
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- app.Run(ctx) }()
			return func() {
				if err := <-done; err != nil {
					b.Errorf("%s: %v", group, err)
				}
			}
		}
	}
	sluice := func(topo *operators.Topology, group string) func(ctx context.Context) func() {
		return sluiceWith(engine.AtLeastOnce, topo, group)
	}
	gokaRun := func(gg *goka.GroupGraph) func(ctx context.Context) func() {
		return func(ctx context.Context) func() {
			p := newGokaProcessor(b, br.Addr, gg)
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			return func() {
				if err := <-done; err != nil {
					b.Errorf("goka: %v", err)
				}
			}
		}
	}
	for i := 0; i < b.N; i++ {
		suffix := strconv.Itoa(i)
		ss := run("sluice stateless", "sl-s"+suffix, nil, sluice(statelessTopology("bench-out-s"), "sl-s"+suffix))
		gs := run("goka stateless", "gk-s"+suffix, nil, gokaRun(gokaStateless("gk-s"+suffix, "bench-out-gs")))
		sw := run("sluice windowed", "sl-w"+suffix, nil, sluice(windowedTopology("bench-out-w"), "sl-w"+suffix))
		gw := run("goka windowed", "gk-w"+suffix, []string{"gk-w" + suffix + "-loop"}, gokaRun(gokaWindowed("gk-w"+suffix, "bench-out-gw")))
		es := run("sluice eos stateless", "eo-s"+suffix, nil, sluiceWith(engine.ExactlyOnce, statelessTopology("bench-out-es"), "eo-s"+suffix))
		ew := run("sluice eos windowed", "eo-w"+suffix, nil, sluiceWith(engine.ExactlyOnce, windowedTopology("bench-out-ew"), "eo-w"+suffix))
		b.ReportMetric(es.evCore, "sluice_eos_stateless_ev/s/core")
		b.ReportMetric(ew.evCore, "sluice_eos_windowed_ev/s/core")
		b.ReportMetric(es.evWall/ss.evWall, "eos_stateless_wall_ratio")
		b.ReportMetric(ew.evWall/sw.evWall, "eos_windowed_wall_ratio")
		b.Logf("exactly-once vs at-least-once: stateless %.2fx wall, %.2fx per core; windowed %.2fx wall, %.2fx per core",
			es.evWall/ss.evWall, es.evCore/ss.evCore, ew.evWall/sw.evWall, ew.evCore/sw.evCore)
		b.ReportMetric(ss.evCore, "sluice_stateless_ev/s/core")
		b.ReportMetric(sw.evCore, "sluice_windowed_ev/s/core")
		b.ReportMetric(gs.evCore, "goka_stateless_ev/s/core")
		b.ReportMetric(gw.evCore, "goka_windowed_ev/s/core")
		b.ReportMetric(ss.evCore/gs.evCore, "stateless_ratio")
		b.ReportMetric(sw.evCore/gw.evCore, "windowed_ratio")
		b.Logf("ratio per core: stateless %.1fx, windowed %.1fx (wall: %.1fx, %.1fx)", ss.evCore/gs.evCore, sw.evCore/gw.evCore, ss.evWall/gs.evWall, sw.evWall/gw.evWall)
	}
}

// runtimeGC collects the garbage of what ran before a job (the input's
// three million records, an earlier job), so that its collection is not
// billed to the next job's CPU.
func runtimeGC() { runtime.GC() }

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

var benchValue = operators.SerdeFuncs(
	func(dst []byte, v int64) ([]byte, error) { return strconv.AppendInt(dst, v, 10), nil },
	func(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) },
)

func statelessTopology(out string) *operators.Topology {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "bench-in", operators.String, benchValue)
	operators.MapValues(s.Filter(func(_ string, v int64) bool { return v%10 != 0 }), func(_ string, v int64) int64 { return v * 2 }).
		WithSerdes(operators.String, benchValue).To(out)
	topo, err := bl.Build()
	if err != nil {
		panic(err)
	}
	return topo
}

func windowedTopology(out string) *operators.Topology {
	bl := operators.NewBuilder()
	s := operators.StreamOf(bl, "bench-in", operators.String, benchValue)
	operators.CountWindowed(s.GroupByKey().WindowedBy(operators.Tumbling(time.Minute))).ToStream().To(out)
	topo, err := bl.Build()
	if err != nil {
		panic(err)
	}
	return topo
}

func produceBenchInput(b testing.TB, addr string, n int) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Recent event times: retention deletes records by timestamp.
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	errs := make(chan error, 1)
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: "bench-in", Key: []byte("sensor-" + strconv.Itoa(i%1000)), Value: strconv.AppendInt(nil, int64(i%1000), 10),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// waitCommitted waits until group has committed every input record (and
// every record of extra topics, such as goka's loopback topic).
func waitCommitted(b testing.TB, addr, group string, n int, extra []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	limit := 10 * time.Minute
	if s := os.Getenv("SLUICE_BENCH_TIMEOUT"); s != "" {
		limit, _ = time.ParseDuration(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		time.Sleep(50 * time.Millisecond)
		if ctx.Err() != nil {
			b.Fatalf("group %s did not finish", group)
		}
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			continue
		}
		var in int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == "bench-in" && o.Err == nil {
				in += o.At
			}
		})
		if in < int64(n) {
			continue
		}
		done := true
		for _, t := range extra {
			ends, err := adm.ListEndOffsets(ctx, t)
			if err != nil {
				done = false
				break
			}
			var end, at int64
			ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == t && o.Err == nil {
					at += o.At
				}
			})
			if at < end || end < int64(n) {
				done = false
			}
		}
		if done {
			return
		}
	}
}

func gokaStateless(group, out string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(group),
		goka.Input("bench-in", new(codec.String), func(ctx goka.Context, msg any) {
			v, err := strconv.ParseInt(msg.(string), 10, 64)
			if err != nil || v%10 == 0 {
				return
			}
			ctx.Emit(goka.Stream(out), ctx.Key(), strconv.FormatInt(v*2, 10))
		}),
		goka.Output(goka.Stream(out), new(codec.String)),
	)
}

func gokaWindowed(group, out string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(group),
		goka.Input("bench-in", new(codec.String), func(ctx goka.Context, msg any) {
			ts := ctx.Timestamp().UnixMilli()
			start := ts - ts%60_000
			ctx.Loopback(ctx.Key()+"@"+strconv.FormatInt(start, 10), msg)
		}),
		goka.Loop(new(codec.String), func(ctx goka.Context, msg any) {
			var n int64
			if v := ctx.Value(); v != nil {
				n = v.(int64)
			}
			n++
			ctx.SetValue(n)
			ctx.Emit(goka.Stream(out), ctx.Key(), strconv.FormatInt(n, 10))
		}),
		goka.Persist(new(codec.Int64)),
		goka.Output(goka.Stream(out), new(codec.String)),
	)
}

func newGokaProcessor(b testing.TB, addr string, gg *goka.GroupGraph) *goka.Processor {
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Producer.Compression = sarama.CompressionNone
	goka.ReplaceGlobalConfig(cfg)
	var lg *log.Logger = log.New(io.Discard, "", 0)
	if os.Getenv("SLUICE_BENCH_DEBUG") != "" {
		lg = log.New(os.Stderr, "goka ", log.LstdFlags)
		goka.SetSaramaLogger(lg)
	}
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	p, err := goka.NewProcessor([]string{addr}, gg,
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithTopicManagerConfig(tmc)),
		goka.WithStorageBuilder(storage.DefaultBuilder(b.TempDir())),
		goka.WithLogger(lg),
	)
	if err != nil {
		b.Fatal(fmt.Errorf("goka processor: %w", err))
	}
	return p
}
