package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/log/broker"
	"github.com/sluicehq/sluice/pipelines/runner"
)

func init() {
	var (
		conn           clientOptions
		embedded       bool
		dataDir        string
		listen         string
		stateDir       string
		commitInterval time.Duration
		logLevel       string
		metricsListen  string
	)
	cmd := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Run YAML pipelines (against a cluster, or an embedded broker)",
		Long: `Lint the pipeline files, refuse to start if there is any problem, then run
every pipeline in them until interrupted: topics they read and write are
created when missing, connectors they name run in a connect worker of their
own, and each pipeline runs as an engine application (a consumer group named
by its application_id, so starting the same file on another machine shares
the work).

With --embedded, a broker runs inside this process on --data-dir (a temporary
directory, removed on exit, when not given) and the pipelines use it; other
clients can reach it at the address printed at start.`,
		Example: `  sluice run pipeline.yaml --brokers localhost:9092
  SLUICE_BROKERS=kafka-1:9092 sluice run pipelines/
  sluice run --embedded --data-dir ./data examples/iot/pipeline.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(logLevel)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			set, err := loadClean(cmd, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			brokers, err := conn.seeds()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var clientOpts []kgo.Opt
			if embedded {
				emb, err := startEmbedded(ctx, dataDir, listen, logger)
				if err != nil {
					return err
				}
				defer emb.close()
				brokers = []string{emb.addr}
				// State belongs with the broker's data: a store left by
				// another broker's run would not match its changelogs.
				if stateDir == "" {
					if emb.temp {
						d, err := os.MkdirTemp("", "sluice-pipelines-state-")
						if err != nil {
							return err
						}
						defer os.RemoveAll(d)
						stateDir = d
					} else {
						stateDir = filepath.Clean(emb.dataDir) + "-pipelines-state"
					}
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "embedded broker on %s (data in %s)\n", emb.addr, emb.dataDir)
			} else if clientOpts, err = securityOpts(&conn); err != nil {
				return &exitError{code: 2, err: err}
			}
			reg := prometheus.NewRegistry()
			r, err := runner.New(set, nil, runner.Config{
				Brokers: brokers, StateDir: stateDir, CommitInterval: commitInterval,
				ClientOpts: clientOpts, Logger: logger, Registerer: reg,
			})
			if err != nil {
				return err
			}
			if metricsListen != "" {
				stop, addr, err := serveMetrics(metricsListen, reg)
				if err != nil {
					return err
				}
				defer stop()
				fmt.Fprintf(cmd.ErrOrStderr(), "metrics on http://%s/metrics\n", addr)
			}
			for _, c := range r.Compiled() {
				fmt.Fprintf(cmd.ErrOrStderr(), "running pipeline %s (application id %s)\n", c.Pipeline.Name, c.AppID)
			}
			return r.Run(ctx)
		},
	}
	addClientFlags(cmd, &conn)
	f := cmd.Flags()
	f.BoolVar(&embedded, "embedded", false, "start a broker inside this process instead of using --brokers")
	f.StringVar(&dataDir, "data-dir", "", "data directory of the embedded broker (default: a temporary directory, removed on exit)")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "address of the embedded broker (port 0: any free port)")
	f.StringVar(&stateDir, "state-dir", "", "directory for the pipelines' local state stores (default: <temp>/sluice-pipelines; with --embedded, <data-dir>-pipelines-state or a temporary one)")
	f.DurationVar(&commitInterval, "commit-interval", 0, "how often pipelines commit their progress (default 1s; 100ms for exactly_once pipelines)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&metricsListen, "metrics-listen", "", "host:port to serve Prometheus /metrics on: engine, connectors and pipeline record errors (off when empty)")
	root.AddCommand(cmd)
}

// serveMetrics serves reg at /metrics until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), bound string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics listener %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, ln.Addr().String(), nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// securityOpts are the TLS and SASL options of the connection flags (the
// runner adds its own seeds and timeouts: a long-running pipeline must
// ride out a broker restart, not give up after --timeout).
func securityOpts(o *clientOptions) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	tlsCfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	mech, err := o.sasl()
	if err != nil {
		return nil, err
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// embeddedBroker is a broker started in this process through the broker
// package's public API — the same broker `sluice serve` runs.
type embeddedBroker struct {
	b       *broker.Broker
	addr    string
	dataDir string
	temp    bool
}

func startEmbedded(ctx context.Context, dataDir, listen string, logger *slog.Logger) (*embeddedBroker, error) {
	e := &embeddedBroker{dataDir: dataDir}
	if dataDir == "" {
		d, err := os.MkdirTemp("", "sluice-embedded-")
		if err != nil {
			return nil, fmt.Errorf("embedded broker: %w", err)
		}
		e.dataDir, e.temp = d, true
	}
	cfg := broker.DefaultConfig()
	cfg.DataDir = e.dataDir
	cfg.Listen = listen
	b, err := broker.New(cfg, logger.With("component", "broker"))
	if err != nil {
		e.removeTemp()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := b.Start(context.WithoutCancel(ctx)); err != nil {
		b.Close()
		e.removeTemp()
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	e.b, e.addr = b, b.Addr()
	return e, nil
}

func (e *embeddedBroker) close() {
	if err := e.b.Close(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "embedded broker: close: %v\n", err)
	}
	e.removeTemp()
}

func (e *embeddedBroker) removeTemp() {
	if e.temp {
		os.RemoveAll(e.dataDir)
	}
}
