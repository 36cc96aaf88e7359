// Package runner runs compiled YAML pipelines against a Kafka-protocol
// cluster: it creates the topics they read and write, starts the
// connectors they name in a connect worker of their own, and runs each
// pipeline's topology with the engine. It is what `sluice run` does.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/compile"
)

// Config configures a Runner.
type Config struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// StateDir holds the pipelines' local state stores, one directory per
	// application (default <temp dir>/sluice-pipelines).
	StateDir string
	// CommitInterval is the engine's commit interval (default 1s, and
	// 100ms for exactly_once pipelines, whose results read_committed
	// consumers see when the transaction of the interval commits).
	CommitInterval time.Duration
	// InMemoryStores keeps state stores in memory (restored from their
	// changelogs on start) instead of on disk.
	InMemoryStores bool
	// ConnectorFlushInterval is how often sink connectors flush and
	// commit (default 1s: pipelines are interactive).
	ConnectorFlushInterval time.Duration
	// ClientOpts are added to every Kafka client (TLS, SASL).
	ClientOpts []kgo.Opt
	Logger     *slog.Logger
	// Registerer receives the engine's, the worker's and the pipelines'
	// metrics (nil: private registries).
	Registerer prometheus.Registerer
}

// ErrNotClean is returned by New for a set with lint problems: a pipeline
// that does not lint clean never starts.
var ErrNotClean = errors.New("pipelines do not lint clean")

// Runner runs a set of pipelines.
type Runner struct {
	cfg      Config
	compiled []*compile.Compiled
}

// New compiles the pipelines; it does no I/O. diags must be the set's
// lint result: any diagnostic refuses the set.
func New(set *pipelines.Set, diags pipelines.Diagnostics, cfg Config) (*Runner, error) {
	if len(diags) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrNotClean, diags.Err())
	}
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("runner: no brokers")
	}
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(os.TempDir(), "sluice-pipelines")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ConnectorFlushInterval <= 0 {
		cfg.ConnectorFlushInterval = time.Second
	}
	r := &Runner{cfg: cfg}
	for _, p := range set.Pipelines {
		c, err := compile.Compile(p, &compile.Options{Logger: cfg.Logger, Registerer: cfg.Registerer})
		if err != nil {
			return nil, err
		}
		r.compiled = append(r.compiled, c)
	}
	return r, nil
}

// Compiled returns the compiled pipelines.
func (r *Runner) Compiled() []*compile.Compiled { return r.compiled }

// Run creates missing topics, starts the connectors and runs every
// pipeline until ctx is cancelled (returning nil after a graceful stop)
// or one of them fails (returning its error after stopping the rest).
func (r *Runner) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(r.cfg.Brokers...)}, r.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("runner: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := r.createTopics(ctx, adm); err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(r.compiled)+1)
	goRun := func(name string, fn func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(runCtx); err != nil && runCtx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	var conns []compile.Connector
	for _, c := range r.compiled {
		conns = append(conns, c.Connectors...)
	}
	if len(conns) > 0 {
		if err := r.startWorker(runCtx, goRun, conns); err != nil {
			cancel()
			wg.Wait()
			return err
		}
	}
	for _, c := range r.compiled {
		app, err := engine.New(c.Topology, engine.Config{
			ApplicationID:  c.AppID,
			Brokers:        r.cfg.Brokers,
			StateDir:       filepath.Join(r.cfg.StateDir, c.AppID),
			Guarantee:      engine.Guarantee(c.Pipeline.Guarantee),
			CommitInterval: r.cfg.CommitInterval,
			InMemoryStores: r.cfg.InMemoryStores,
			Logger:         r.cfg.Logger.With("pipeline", c.Pipeline.Name),
			Registerer:     r.cfg.Registerer,
			ClientOptions:  r.cfg.ClientOpts,
		})
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("pipeline %s: %w", c.Pipeline.Name, err)
		}
		goRun("pipeline "+c.Pipeline.Name, app.Run)
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// createTopics creates the sources' and sinks' topics that do not exist.
func (r *Runner) createTopics(ctx context.Context, adm *kadm.Client) error {
	want := map[string]compile.Topic{}
	var names []string
	for _, c := range r.compiled {
		for _, t := range c.Topics {
			if _, dup := want[t.Name]; !dup {
				names = append(names, t.Name)
			}
			want[t.Name] = t
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("runner: list topics: %w", err)
	}
	for _, name := range names {
		if d, ok := existing[name]; ok && d.Err == nil && len(d.Partitions) > 0 {
			continue
		}
		t := want[name]
		parts := int32(-1)
		if t.Partitions > 0 {
			parts = int32(t.Partitions)
		}
		var cfgs map[string]*string
		if t.Compact {
			compact := "compact"
			cfgs = map[string]*string{"cleanup.policy": &compact}
		}
		// kadm returns the topic's own error as err too. A topic another
		// client created since the listing (a producer with auto-creation)
		// is fine.
		resp, err := adm.CreateTopic(ctx, parts, -1, cfgs, name)
		if err != nil && !errors.Is(err, errTopicExists) {
			return fmt.Errorf("runner: create topic %s: %w", name, err)
		}
		if resp.Err != nil && !errors.Is(resp.Err, errTopicExists) {
			return fmt.Errorf("runner: create topic %s: %w", name, resp.Err)
		}
		r.cfg.Logger.Info("created topic", "topic", name, "partitions", resp.NumPartitions)
	}
	return nil
}

// startWorker runs a connect worker with internal topics of its own (named
// after the first pipeline's application id, so two `sluice run`
// processes never share them) and puts every connector's config.
func (r *Runner) startWorker(ctx context.Context, goRun func(string, func(context.Context) error), conns []compile.Connector) error {
	prefix := "_" + r.compiled[0].AppID + "-connect"
	// An exactly-once pipeline gets exactly-once sources too (KIP-618):
	// sources that support it write their records and positions in
	// transactions, so a crashed worker neither loses nor repeats what
	// the pipeline reads. Sources that do not run at least once, as
	// exactly.once.support=requested (the default) allows.
	eos := worker.ExactlyOnceDisabled
	for _, c := range r.compiled {
		if c.Pipeline.Guarantee == string(engine.ExactlyOnce) {
			eos = worker.ExactlyOnceEnabled
		}
	}
	w, err := worker.New(worker.Config{
		ExactlyOnceSourceSupport: eos,
		GroupID:                  prefix,
		Brokers:                  r.cfg.Brokers,
		ClientOpts:               r.cfg.ClientOpts,
		WorkerID:                 r.compiled[0].AppID,
		ConfigTopic:              prefix + "-configs",
		OffsetTopic:              prefix + "-offsets",
		StatusTopic:              prefix + "-status",
		OffsetFlushInterval:      r.cfg.ConnectorFlushInterval,
		Logger:                   r.cfg.Logger,
		Registerer:               r.cfg.Registerer,
	})
	if err != nil {
		return fmt.Errorf("runner: connect worker: %w", err)
	}
	goRun("connect worker", w.Run)
	for _, c := range conns {
		if _, _, err := w.PutConfig(ctx, c.Name, c.Config); err != nil {
			return fmt.Errorf("runner: connector %s: %w", c.Name, err)
		}
		r.cfg.Logger.Info("started connector", "connector", c.Name, "class", c.Config["connector.class"], "topic", c.Topic)
	}
	return nil
}
