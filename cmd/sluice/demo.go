package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	parquet "github.com/parquet-go/parquet-go"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/iot"
	"github.com/sluicehq/sluice/examples/payments"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/record"
	"github.com/sluicehq/sluice/pipelines/runner"
)

// demoExample is one runnable example: its pipeline files (embedded in
// the binary, so the demo works from any directory), the settings it
// passes them, how to generate its input and what to show at the end.
type demoExample struct {
	name    string
	files   map[string][]byte // file name as shown in positions -> contents
	pgFile  string
	pgData  []byte
	outEnv  string // env var naming the output directory
	env     func(o *demoOptions) map[string]string
	produce func(ctx context.Context, cl *kgo.Client, o *demoOptions, done *atomic.Int64) (total int64, err error)
	// inputs and outputs are the topics progress reports on.
	input   string
	outputs []string
	summary func(w io.Writer, o *demoOptions)
}

type demoOptions struct {
	brokers      string
	generateOnly bool
	out          string
	dataDir      string
	pgDSN        string
	seed         uint64
	timeout      time.Duration
	logLevel     string
	// example-specific
	sensors int
	minutes int
	limit   int
}

func init() {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo iot|payments",
		Short: "Run an example end to end on an embedded broker",
		Long: `Run one of the examples end to end with nothing else installed: a broker
starts inside this process, the example's pipelines run on it, a generator
produces realistic data (the same every time for a given --seed), progress is
shown live, and when every record is processed the demo stops and tells you
where the output is and how to look at it.

  iot       50 sensors for ten minutes: per-sensor one-minute averages to
            Parquet, JSON lines and a topic; alerts for readings over 45°C.
  payments  3000 card payments with accounts: each payment enriched with its
            account; cards with more than 5 payments in five minutes flagged.

With --pg-dsn (or SLUICE_PG_DSN) the results are also written to PostgreSQL.`,
		Example: `  sluice demo iot
  sluice demo payments --out /tmp/payments
  SLUICE_PG_DSN=postgres://me@localhost/demo sluice demo iot`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"iot", "payments"},
		RunE: func(cmd *cobra.Command, args []string) error {
			ex, ok := demoExamples()[args[0]]
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("demo: unknown example %q (iot or payments)", args[0])}
			}
			if o.out == "" {
				o.out = "./" + ex.name + "-output"
			}
			if o.pgDSN == "" {
				o.pgDSN = os.Getenv("SLUICE_PG_DSN")
			}
			if o.generateOnly {
				if o.brokers == "" {
					o.brokers = os.Getenv(brokersEnv)
				}
				if o.brokers == "" {
					o.brokers = defaultBrokers
				}
				return generateOnly(cmd, ex, o)
			}
			return runDemo(cmd, ex, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.brokers, "brokers", "", "run against this cluster (comma-separated host:port) instead of an embedded broker")
	f.BoolVar(&o.generateOnly, "generate-only", false, "only produce the example's input data to --brokers (default $SLUICE_BROKERS or 127.0.0.1:9092), for pipelines you run yourself")
	f.StringVar(&o.out, "out", "", "directory for the example's files (default ./<example>-output)")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory of the embedded broker (default: temporary, removed at the end)")
	f.StringVar(&o.pgDSN, "pg-dsn", "", "PostgreSQL connection URL; results are also written there (env SLUICE_PG_DSN)")
	f.Uint64Var(&o.seed, "seed", 0, "generator seed (0: the example's default)")
	f.DurationVar(&o.timeout, "timeout", 3*time.Minute, "give up if the data is not processed in this long")
	f.StringVar(&o.logLevel, "log-level", "warn", "log level of the broker, engine and connectors")
	f.IntVar(&o.sensors, "sensors", 50, "iot: number of sensors")
	f.IntVar(&o.minutes, "minutes", 10, "iot: minutes of readings")
	f.IntVar(&o.limit, "max-per-5m", payments.MaxPer5m, "payments: payments per card in five minutes before a card is flagged")
	cmd.AddCommand(newDemoCatCmd())
	root.AddCommand(cmd)
}

func demoExamples() map[string]*demoExample {
	return map[string]*demoExample{
		"iot": {
			name:    "iot",
			files:   map[string][]byte{"examples/iot/pipeline.yaml": iot.PipelineYAML},
			pgFile:  "examples/iot/postgres.yaml",
			pgData:  iot.PostgresYAML,
			outEnv:  "IOT_OUT",
			input:   iot.ReadingsTopic,
			outputs: []string{iot.AveragesTopic, iot.AlertsTopic},
			env: func(o *demoOptions) map[string]string {
				// One Parquet file per minute of results: one row per sensor.
				return map[string]string{"IOT_OUT": o.out, "IOT_PARQUET_ROWS": fmt.Sprint(o.sensors)}
			},
			produce: produceIoT,
			summary: summarizeIoT,
		},
		"payments": {
			name:    "payments",
			files:   map[string][]byte{"examples/payments/pipeline.yaml": payments.PipelineYAML},
			pgFile:  "examples/payments/postgres.yaml",
			pgData:  payments.PostgresYAML,
			outEnv:  "PAYMENTS_OUT",
			input:   payments.PaymentsTopic,
			outputs: []string{payments.EnrichedTopic, payments.FlaggedTopic},
			env: func(o *demoOptions) map[string]string {
				return map[string]string{"PAYMENTS_OUT": o.out, "PAYMENTS_MAX_PER_5M": fmt.Sprint(o.limit)}
			},
			produce: producePayments,
			summary: summarizePayments,
		},
	}
}

// demoOutputs are the files a previous run of the demo wrote; they are
// removed first so a second run does not append to them.
var demoOutputs = []string{"parquet", "averages.jsonl", "alerts.jsonl", "enriched.jsonl", "flagged.jsonl",
	".averages.jsonl.checkpoint", ".alerts.jsonl.checkpoint", ".enriched.jsonl.checkpoint", ".flagged.jsonl.checkpoint"}

func runDemo(cmd *cobra.Command, ex *demoExample, o *demoOptions) error {
	ctx := cmd.Context()
	w := cmd.ErrOrStderr()
	logger, err := newLogger(o.logLevel)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	for _, name := range demoOutputs {
		os.RemoveAll(filepath.Join(o.out, name))
	}
	if abs, err := filepath.Abs(o.out); err == nil {
		o.out = abs
	}

	// The pipeline files, with the demo's settings.
	env := ex.env(o)
	if o.pgDSN != "" {
		env["SLUICE_PG_DSN"] = o.pgDSN
	}
	lookup := func(name string) (string, bool) {
		if v, ok := env[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}
	files := ex.files
	if o.pgDSN != "" {
		files = map[string][]byte{ex.pgFile: ex.pgData}
		for k, v := range ex.files {
			files[k] = v
		}
	}
	set, diags := parseFiles(files, &pipelines.Options{Env: lookup})
	if printDiagnostics(w, diags) {
		return fmt.Errorf("demo: the example's pipeline files do not lint clean")
	}

	var brokers []string
	if o.brokers != "" {
		brokers = strings.Split(o.brokers, ",")
		fmt.Fprintf(w, "Sluice demo: %s\n  brokers  %s\n  output   %s\n", ex.name, o.brokers, o.out)
	} else {
		emb, err := startEmbedded(ctx, o.dataDir, "127.0.0.1:0", logger)
		if err != nil {
			return err
		}
		defer emb.close()
		brokers = []string{emb.addr}
		fmt.Fprintf(w, "Sluice demo: %s\n  broker   %s (embedded; data in %s)\n  output   %s\n", ex.name, emb.addr, emb.dataDir, o.out)
	}
	if o.pgDSN != "" {
		fmt.Fprintf(w, "  postgres %s\n", redactDSN(o.pgDSN))
	}
	stateDir, err := os.MkdirTemp("", "sluice-demo-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stateDir)
	// The demo's state is temporary: stores live in memory.
	r, err := runner.New(set, nil, runner.Config{Brokers: brokers, StateDir: stateDir,
		CommitInterval: 500 * time.Millisecond, InMemoryStores: true, ConnectorFlushInterval: 500 * time.Millisecond, Logger: logger})
	if err != nil {
		return err
	}
	for _, c := range r.Compiled() {
		fmt.Fprintf(w, "  pipeline %s\n", c.Pipeline.Name)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(runCtx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := waitTopics(ctx, adm, ex.input, runErr); err != nil {
		return err
	}

	var produced atomic.Int64
	var total atomic.Int64
	prodErr := make(chan error, 1)
	go func() {
		n, err := ex.produce(runCtx, cl, o, &produced)
		total.Store(n)
		prodErr <- err
	}()

	err = watchDemo(ctx, w, r, adm, ex, &produced, &total, prodErr, runErr, o.timeout)
	stopRun()
	if rerr := <-runErr; rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(w)
	ex.summary(cmd.OutOrStdout(), o)
	return nil
}

// generateOnly produces the example's input to a running cluster, for
// users who run the pipelines themselves with sluice run.
func generateOnly(cmd *cobra.Command, ex *demoExample, o *demoOptions) error {
	ctx := cmd.Context()
	w := cmd.ErrOrStderr()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(o.brokers, ",")...), kgo.ProducerLinger(5*time.Millisecond),
		kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	var done atomic.Int64
	fin := make(chan struct{})
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-fin:
				return
			case <-t.C:
				fmt.Fprintf(w, "  produced %d\n", done.Load())
			}
		}
	}()
	n, err := ex.produce(ctx, cl, o, &done)
	close(fin)
	if err != nil {
		return fmt.Errorf("demo: generator: %w", err)
	}
	fmt.Fprintf(w, "produced %d records of the %s example to %s\n", n, ex.name, o.brokers)
	return nil
}

// parseFiles lints pipeline files held in memory.
func parseFiles(files map[string][]byte, opts *pipelines.Options) (*pipelines.Set, pipelines.Diagnostics) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	set := &pipelines.Set{}
	var diags pipelines.Diagnostics
	for _, n := range names {
		ps, ds := pipelines.Parse(n, files[n], opts)
		set.Pipelines = append(set.Pipelines, ps...)
		diags = append(diags, ds...)
	}
	diags = append(diags, pipelines.Check(set, opts)...)
	diags.Sort()
	return set, diags
}

func waitTopics(ctx context.Context, adm *kadm.Client, topic string, runErr chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		td, err := adm.ListTopics(ctx, topic)
		if err == nil {
			if d, ok := td[topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
				return nil
			}
		}
		select {
		case err := <-runErr:
			return fmt.Errorf("demo: pipelines stopped: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("demo: topic %s was not created", topic)
}

// watchDemo prints progress until the generator is done and every
// pipeline and sink connector has caught up, and the outputs have stopped
// growing.
func watchDemo(ctx context.Context, w io.Writer, r *runner.Runner, adm *kadm.Client, ex *demoExample,
	produced, total *atomic.Int64, prodErr, runErr chan error, timeout time.Duration) error {
	tty := writerIsTerminal(w)
	start := time.Now()
	genDone := false
	stable := 0
	var lastCounts string
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-prodErr:
			if err != nil {
				return fmt.Errorf("demo: generator: %w", err)
			}
			genDone = true
		case err := <-runErr:
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("demo: pipelines: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		counts := outputCounts(ctx, adm, ex.outputs)
		lag, lagErr := r.Lag(ctx)
		line := fmt.Sprintf("  %5.1fs  %s %d", time.Since(start).Seconds(), ex.input, produced.Load())
		if genDone {
			line += fmt.Sprintf("/%d", total.Load())
		}
		line += " | " + counts
		if lagErr == nil {
			line += fmt.Sprintf(" | lag %d", lag.Total())
		}
		if tty {
			fmt.Fprintf(w, "\r%-100s", line)
		} else {
			fmt.Fprintln(w, line)
		}
		caughtUp := genDone && lagErr == nil && r.Settled(lag)
		if caughtUp && counts == lastCounts {
			stable++
		} else {
			stable = 0
		}
		lastCounts = counts
		if stable >= 6 { // three seconds without change
			if tty {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "  done: every record processed in %.1fs\n", time.Since(start).Seconds())
			return nil
		}
		if time.Since(start) > timeout {
			if tty {
				fmt.Fprintln(w)
			}
			return fmt.Errorf("demo: not finished after %v (lag %v, waiting for %v)", timeout, lag.Groups, lag.Uncommitted)
		}
	}
}

func outputCounts(ctx context.Context, adm *kadm.Client, topics []string) string {
	ends, err := adm.ListEndOffsets(ctx, topics...)
	parts := make([]string, 0, len(topics))
	for _, t := range topics {
		var n int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) {
				if o.Topic == t && o.Err == nil {
					n += o.Offset
				}
			})
		}
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
	}
	return strings.Join(parts, " | ")
}

func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			user := dsn[i+3 : at]
			if c := strings.IndexByte(user, ':'); c >= 0 {
				return dsn[:i+3] + user[:c] + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}

func produceIoT(ctx context.Context, cl *kgo.Client, o *demoOptions, done *atomic.Int64) (int64, error) {
	cfg := iot.DefaultConfig()
	cfg.Sensors = o.sensors
	cfg.Duration = time.Duration(o.minutes)*time.Minute + 15*time.Second
	if o.seed != 0 {
		cfg.Seed = o.seed
	}
	return iot.Produce(ctx, cl, iot.ReadingsTopic, cfg, done)
}

func summarizeIoT(w io.Writer, o *demoOptions) { iot.Summary(w, o.out, sluiceCommand()) }

func producePayments(ctx context.Context, cl *kgo.Client, o *demoOptions, done *atomic.Int64) (int64, error) {
	cfg := payments.DefaultConfig()
	if o.seed != 0 {
		cfg.Seed = o.seed
	}
	return payments.Produce(ctx, cl, payments.AccountsTopic, payments.PaymentsTopic, payments.Generate(cfg), done)
}

func summarizePayments(w io.Writer, o *demoOptions) {
	payments.Summary(w, o.out, sluiceCommand(), o.pgDSN != "")
}

// sluiceCommand is how the user ran this binary, for the commands the
// summary suggests.
func sluiceCommand() string {
	if len(os.Args) > 0 && strings.Contains(os.Args[0], "/") {
		return os.Args[0]
	}
	return "sluice"
}

// newDemoCatCmd prints Parquet files as JSON lines, so the demo's output
// can be looked at with nothing but this binary.
func newDemoCatCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cat FILE.parquet...",
		Short: "Print the rows of Parquet files as JSON lines",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, path := range args {
				if err := catParquet(cmd.OutOrStdout(), path); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// catParquet prints each row of a Parquet file as a JSON object: leaf
// columns by their dotted path, timestamps in RFC 3339, repeated values as
// arrays.
func catParquet(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	schema := pf.Schema()
	cols := schema.Columns()
	names := make([]string, len(cols))
	conv := make([]func(parquet.Value) any, len(cols))
	for i, c := range cols {
		names[i] = strings.Join(c, ".")
		leaf, _ := schema.Lookup(c...)
		conv[i] = parquetValueFunc(leaf.Node)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	buf := make([]parquet.Row, 128)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				m := map[string]any{}
				for _, v := range row {
					c := v.Column()
					if c < 0 || c >= len(names) {
						continue
					}
					var x any
					if !v.IsNull() {
						x = conv[c](v)
					}
					if prev, ok := m[names[c]]; ok { // repeated
						if arr, isArr := prev.([]any); isArr {
							m[names[c]] = append(arr, x)
						} else {
							m[names[c]] = []any{prev, x}
						}
						continue
					}
					m[names[c]] = x
				}
				line, err := record.AppendJSON(nil, m, names)
				if err != nil {
					return err
				}
				bw.Write(append(line, '\n'))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		rows.Close()
	}
	return nil
}

func parquetValueFunc(n parquet.Node) func(parquet.Value) any {
	lt := ""
	if n != nil && n.Type() != nil && n.Type().LogicalType() != nil {
		lt = strings.ToUpper(n.Type().LogicalType().String())
	}
	switch {
	case strings.HasPrefix(lt, "TIMESTAMP"):
		unit := time.Millisecond
		switch {
		case strings.Contains(lt, "MICRO"):
			unit = time.Microsecond
		case strings.Contains(lt, "NANO"):
			unit = time.Nanosecond
		}
		return func(v parquet.Value) any { return time.Unix(0, v.Int64()*int64(unit)).UTC() }
	}
	return func(v parquet.Value) any {
		switch v.Kind() {
		case parquet.Boolean:
			return v.Boolean()
		case parquet.Int32:
			return int64(v.Int32())
		case parquet.Int64:
			return v.Int64()
		case parquet.Float:
			return float64(v.Float())
		case parquet.Double:
			return v.Double()
		case parquet.ByteArray, parquet.FixedLenByteArray:
			return string(v.ByteArray())
		}
		return v.String()
	}
}
