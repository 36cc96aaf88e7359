package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	rpprof "runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/bench"
)

// benchOptions are `sluice bench` flags that are not part of bench.Config.
type benchOptions struct {
	target        string
	natsURL       string
	natsInProcess bool
	natsPending   int
	spawnBroker   bool
	asJSON        bool
	cpuProfile    string
	memProfile    string
	runtimeStats  bool
	seriesFile    string
}

func init() {
	var (
		co  clientOptions
		bo  benchOptions
		cfg = bench.DefaultConfig()
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput and latency of a Kafka-protocol cluster and of NATS JetStream",
		Long: `Runs one workload and prints records/s, MB/s and HDR latency percentiles.

  produce  send --count records (or for --duration) as fast as allowed;
           latency is send → acknowledgement
  consume  fill a topic, then read it from the start with a new consumer
  e2e      produce at a fixed --rate while consuming; latency is send →
           receive. Without --rate it first measures the peak of the
           pipeline (producer and consumer both running, unpaced; or
           produce-only with --peak-from produce) and then runs at
           --rate-fraction (default half) of it.

--target jetstream runs the same workload against NATS JetStream with file
storage (an embedded nats-server started in a child process unless
--nats-url is given); --target both runs Sluice then JetStream and prints
the ratio.`,
		Example: `  sluice bench produce --count 5000000
  sluice bench e2e --target both --spawn-broker --json
  sluice bench produce --acks all --producers 4 --compression zstd --duration 30s`,
	}
	addClientFlags(cmd, &co)
	pf := cmd.PersistentFlags()
	pf.StringVar(&bo.target, "target", "sluice", "what to measure: sluice (any Kafka-protocol cluster at --brokers), kafka (same, labelled kafka), jetstream, or both (sluice then jetstream)")
	pf.StringVar(&bo.natsURL, "nats-url", "", "JetStream server to use instead of starting one")
	pf.IntVar(&bo.natsPending, "jetstream-max-pending", bench.DefaultJetStreamOptions().MaxPending, "unacknowledged async publishes per JetStream producer (0: --max-pending)")
	pf.BoolVar(&bo.natsInProcess, "nats-in-process", false, "run the embedded nats-server inside this process instead of a child process")
	pf.BoolVar(&bo.spawnBroker, "spawn-broker", false, "start `sluice serve` on a temporary data dir and a free port, and measure it")
	pf.BoolVar(&bo.asJSON, "json", false, "print results as JSON")
	pf.StringVar(&bo.cpuProfile, "cpuprofile", "", "write a CPU profile of the benchmark process (the clients) to this file")
	pf.BoolVar(&bo.runtimeStats, "runtime-stats", false, "print the benchmark process's scheduling-latency and GC-pause percentiles at the end (the broker's are on its --metrics-listen)")
	pf.StringVar(&bo.memProfile, "memprofile", "", "write an allocation profile of the benchmark process (the clients) to this file at the end")
	pf.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "bytes per record value (at least 8)")
	pf.Int64Var(&cfg.Count, "count", cfg.Count, "records to send in total (0: use --duration)")
	pf.DurationVar(&cfg.Duration, "duration", 0, "send for this long instead of --count")
	pf.IntVar(&cfg.Partitions, "partitions", cfg.Partitions, "partitions of the benchmark topic (subjects of the JetStream stream)")
	pf.IntVar(&cfg.Replication, "replication-factor", cfg.Replication, "replicas of the benchmark topic")
	pf.StringVar(&cfg.Acks, "acks", cfg.Acks, "acknowledgements: all, 1 or 0")
	pf.IntVar(&cfg.Producers, "producers", cfg.Producers, "concurrent producers, each with its own connection")
	pf.StringVar(&cfg.Compression, "compression", cfg.Compression, "batch compression: none, gzip, snappy, lz4 or zstd")
	pf.DurationVar(&cfg.Linger, "linger", cfg.Linger, "producer linger before sending a batch")
	pf.IntVar(&cfg.BatchBytes, "batch-bytes", cfg.BatchBytes, "largest producer batch")
	pf.IntVar(&cfg.MaxPending, "max-pending", cfg.MaxPending, "records a producer may have unacknowledged")
	pf.IntVar(&cfg.MaxInFlight, "max-inflight", 0, "produce requests in flight per connection for acks 0/1 (0: client default, 1)")
	pf.IntVar(&cfg.Rate, "rate", 0, "total records/s (0: as fast as possible; e2e: --rate-fraction of measured peak)")
	pf.Float64Var(&cfg.RateFraction, "rate-fraction", cfg.RateFraction, "e2e without --rate: fraction of peak throughput to run at")
	pf.StringVar(&cfg.PeakFrom, "peak-from", cfg.PeakFrom, "e2e without --rate: which peak --rate-fraction is of: e2e (producer and consumer running together) or produce (produce only)")
	pf.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "e2e: leave records sent in this first period out of the latency histogram")
	pf.DurationVar(&cfg.SeriesInterval, "latency-interval", 0, "also record latency percentiles per window of this length, by send time (printed with --json, or written by --latency-csv)")
	pf.StringVar(&bo.seriesFile, "latency-csv", "", "write latency per --latency-interval window (default 100ms) as CSV to this file")
	pf.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long consumers wait for the last records")

	for _, wl := range []struct{ name, short string }{
		{bench.Produce, "Measure produce throughput and acknowledgement latency"},
		{bench.Consume, "Measure consume throughput"},
		{bench.E2E, "Measure end-to-end latency at a fixed rate"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   wl.name,
			Short: wl.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				c := cfg
				c.Workload = wl.name
				if cmd.Flags().Changed("duration") && !cmd.Flags().Changed("count") {
					c.Count = 0
				}
				return runBench(cmd, &co, &bo, c)
			},
		})
	}
	cmd.AddCommand(natsServerCmd())
	root.AddCommand(cmd)
}

// benchGCPercent is the benchmark process's GOGC unless the environment
// sets one. The clients' live heap is small (tens of MB) but kgo allocates
// every response body, so at the default 100 the collector runs ~10 times
// a second in an e2e run, each time taking one of two cores' worth of
// mark work and delaying the consumer: that is the harness's own latency,
// not the system's under test. A larger heap goal (still ~100 MB) cuts
// collections fourfold. Both targets' clients run under it.
const benchGCPercent = 400

func runBench(cmd *cobra.Command, co *clientOptions, bo *benchOptions, cfg bench.Config) error {
	if bo.seriesFile != "" && cfg.SeriesInterval == 0 {
		cfg.SeriesInterval = 100 * time.Millisecond
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	var targets []func() (bench.Target, func(), error)
	kafka := func(name string) func() (bench.Target, func(), error) {
		return func() (bench.Target, func(), error) { return kafkaTarget(ctx, co, bo, name) }
	}
	switch bo.target {
	case "sluice", "kafka":
		targets = append(targets, kafka(bo.target))
	case "jetstream":
		targets = append(targets, func() (bench.Target, func(), error) { return jetStreamTarget(ctx, bo) })
	case "both":
		targets = append(targets, kafka("sluice"), func() (bench.Target, func(), error) { return jetStreamTarget(ctx, bo) })
	default:
		return fmt.Errorf("--target %q: want sluice, kafka, jetstream or both", bo.target)
	}

	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(benchGCPercent)
	}
	stopProfile, err := startCPUProfile(bo.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if bo.memProfile != "" {
		defer writeAllocProfile(cmd, bo.memProfile)
	}
	if bo.runtimeStats {
		defer newRuntimeStats().report(cmd.ErrOrStderr())
	}
	var results []bench.Result
	for _, start := range targets {
		t, stop, err := start()
		if err != nil {
			return err
		}
		if !bo.asJSON {
			fmt.Fprintf(cmd.ErrOrStderr(), "running %s against %s...\n", cfg.Workload, t.Name())
		}
		rs, err := bench.Run(ctx, t, cfg)
		stop()
		results = append(results, rs...)
		if err != nil {
			printBench(cmd, bo, results)
			return err
		}
	}
	return printBench(cmd, bo, results)
}

func printBench(cmd *cobra.Command, bo *benchOptions, results []bench.Result) error {
	out := cmd.OutOrStdout()
	if bo.seriesFile != "" {
		if err := writeSeries(bo.seriesFile, results); err != nil {
			return err
		}
	}
	if bo.asJSON {
		return writeJSON(out, struct {
			Results    []bench.Result `json:"results"`
			Comparison []string       `json:"comparison,omitempty"`
		}{results, bench.Compare(results)})
	}
	return bench.WriteText(out, results)
}

// kafkaTarget connects to --brokers, or first starts `sluice serve` with
// --spawn-broker.
func kafkaTarget(ctx context.Context, co *clientOptions, bo *benchOptions, name string) (bench.Target, func(), error) {
	stop := func() {}
	if bo.spawnBroker {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		dir, err := os.MkdirTemp("", "sluice-bench-data-")
		if err != nil {
			return nil, nil, err
		}
		addr, err := bench.FreeAddr()
		if err != nil {
			return nil, nil, err
		}
		sctx, cancel := context.WithTimeout(ctx, co.timeout+20*time.Second)
		p, err := bench.StartProcess(sctx, self, []string{"serve", "--data-dir", dir, "--listen", addr}, addr)
		cancel()
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		co.brokers = addr
		stop = func() { p.Stop(); os.RemoveAll(dir) }
	}
	opts, err := co.kgoOpts()
	if err != nil {
		stop()
		return nil, nil, err
	}
	cl, err := co.connect(ctx) // fail fast, in one line, when nothing listens
	if err != nil {
		stop()
		return nil, nil, err
	}
	cl.Close()
	opts = append(opts, kgo.ClientID("sluice-bench"))
	return bench.NewKafkaTarget(name, opts...), stop, nil
}

// jetStreamTarget uses --nats-url or starts an embedded nats-server, in a
// child process by default so that it does not share the benchmark's CPU
// scheduling and heap any more than `sluice serve` does.
func jetStreamTarget(ctx context.Context, bo *benchOptions) (bench.Target, func(), error) {
	if bo.natsURL != "" {
		return bench.NewJetStreamTarget(bo.natsURL, bo.jsOptions()), func() {}, nil
	}
	dir, err := os.MkdirTemp("", "sluice-bench-nats-")
	if err != nil {
		return nil, nil, err
	}
	if bo.natsInProcess {
		s, err := bench.StartNATSServer("127.0.0.1:0", dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		return bench.NewJetStreamTarget(s.URL(), bo.jsOptions()), func() { s.Shutdown(); os.RemoveAll(dir) }, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	addr, err := bench.FreeAddr()
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := bench.StartProcess(sctx, self, []string{"bench", "nats-server", "--listen", addr, "--store-dir", dir}, addr)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return bench.NewJetStreamTarget("nats://"+addr, bo.jsOptions()), func() { p.Stop(); os.RemoveAll(dir) }, nil
}

func (bo *benchOptions) jsOptions() bench.JetStreamOptions {
	return bench.JetStreamOptions{MaxPending: bo.natsPending}
}

// natsServerCmd runs the embedded JetStream server on its own, for the
// benchmark's child process (and for anyone comparing by hand).
func natsServerCmd() *cobra.Command {
	var listen, storeDir string
	cmd := &cobra.Command{
		Use:    "nats-server",
		Short:  "Run an embedded nats-server with JetStream file storage (for benchmarks)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if storeDir == "" {
				return errors.New("--store-dir is required")
			}
			s, err := bench.StartNATSServer(listen, storeDir)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "nats-server with JetStream listening at %s, storing in %s\n", strings.TrimPrefix(s.URL(), "nats://"), storeDir)
			<-cmd.Context().Done()
			s.Shutdown()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:4222", "host:port to listen on")
	cmd.Flags().StringVar(&storeDir, "store-dir", "", "directory for JetStream file storage")
	return cmd
}

// writeSeries writes the latency-over-time windows of results as CSV.
func writeSeries(path string, results []bench.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--latency-csv: %w", err)
	}
	err = bench.WriteSeriesCSV(f, results)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--latency-csv %s: %w", path, err)
	}
	return nil
}

// writeAllocProfile writes the process's allocation profile (every
// allocation since the start, sampled) for `go tool pprof -sample_index
// alloc_space`.
func writeAllocProfile(cmd *cobra.Command, path string) {
	f, err := os.Create(path)
	if err == nil {
		err = rpprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "--memprofile: %v\n", err)
	}
}
