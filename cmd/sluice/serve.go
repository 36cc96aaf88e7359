package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/sluicehq/sluice/log/broker"
)

func init() {
	root.AddCommand(newServeCmd())
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the Kafka-protocol broker (and registered extensions)",
		Long: `Run Sluice's single-node broker. Any Kafka client can connect to it.

Settings come from --config (a server.properties-style key=value file, or
YAML with the same keys, e.g. log.retention.ms, num.partitions,
auto.create.topics.enable, socket.request.max.bytes, max.connections,
connections.max.idle.ms, group.initial.rebalance.delay.ms,
transaction.max.timeout.ms, transactional.id.expiration.ms); flags override
the file. SIGTERM or SIGINT shuts down gracefully, flushing every log.

The broker is also the transaction coordinator: transactional producers
(transactional.id) and read_committed consumers work as against Kafka, so
clients can process exactly once.`,
		Example: `  sluice serve --data-dir ./data --listen 127.0.0.1:9092
  sluice serve --config broker.properties --metrics-listen 127.0.0.1:9644`,
		// Flags are parsed in RunE, after extensions registered in other
		// files' init functions have added theirs (init order across
		// files is not something to rely on).
		DisableFlagParsing: true,
	}
	f := cmd.Flags()
	f.String("data-dir", "./sluice-data", "directory for partition logs and broker metadata")
	f.String("listen", "127.0.0.1:9092", "host:port to accept Kafka clients on")
	f.String("advertised-addr", "", "host:port clients are told to dial (default: the listen address)")
	f.String("config", "", "broker settings file (key=value properties, or YAML when named *.yaml/*.yml)")
	f.String("metrics-listen", "", "host:port to serve Prometheus /metrics on (off when empty)")
	f.Int32("node-id", 0, "broker id reported to clients")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	f.BoolP("help", "h", false, "help for serve")
	var once sync.Once
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		once.Do(func() {
			for _, ext := range serveExtensions {
				if ext.Flags != nil {
					ext.Flags(cmd)
				}
			}
		})
		if err := cmd.Flags().Parse(args); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("serve: %w", err)}
		}
		if help, _ := cmd.Flags().GetBool("help"); help {
			return cmd.Help()
		}
		if rest := cmd.Flags().Args(); len(rest) > 0 {
			return &exitError{code: 2, err: fmt.Errorf("serve: unexpected arguments %q", rest)}
		}
		return runServe(cmd)
	}
	return cmd
}

func runServe(cmd *cobra.Command) error {
	flags := cmd.Flags()
	str := func(name string) string { v, _ := flags.GetString(name); return v }

	var level slog.Level
	if err := level.UnmarshalText([]byte(str("log-level"))); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("serve: --log-level: %w", err)}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	cfg := broker.DefaultConfig()
	cfg.DataDir = "./sluice-data"
	metricsAddr := ""
	if path := str("config"); path != "" {
		settings, err := readSettings(path)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		if v, ok := settings["metrics.listen"]; ok {
			metricsAddr = v
			delete(settings, "metrics.listen")
		}
		if err := broker.ApplySettings(&cfg, settings); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("%s: %w", path, err)}
		}
	}
	if flags.Changed("data-dir") || cfg.DataDir == "" {
		cfg.DataDir = str("data-dir")
	}
	if flags.Changed("listen") {
		cfg.Listen = str("listen")
	}
	if flags.Changed("advertised-addr") {
		cfg.AdvertisedAddr = str("advertised-addr")
	}
	if flags.Changed("node-id") {
		cfg.NodeID, _ = flags.GetInt32("node-id")
	}
	if flags.Changed("metrics-listen") {
		metricsAddr = str("metrics-listen")
	}

	b, err := broker.New(cfg, logger)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if err := b.Start(context.Background()); err != nil {
		b.Close()
		return err
	}

	var wg sync.WaitGroup
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	failed := make(chan error, 1+len(serveExtensions))

	var metricsSrv *http.Server
	if metricsAddr != "" {
		ln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			b.Close()
			return fmt.Errorf("metrics listener %s: %w", metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(b.Registry(), promhttp.HandlerOpts{}))
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := metricsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				failed <- fmt.Errorf("metrics server: %w", err)
			}
		}()
		logger.Info("serving metrics", "addr", ln.Addr().String())
	}

	brokerAddr := cfg.AdvertisedAddr
	if brokerAddr == "" {
		brokerAddr = b.Addr()
	}
	for _, ext := range serveExtensions {
		if ext.Run == nil {
			continue
		}
		ext := ext
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ext.Run(runCtx, cmd, brokerAddr); err != nil && runCtx.Err() == nil {
				failed <- fmt.Errorf("%s: %w", ext.Name, err)
			}
		}()
	}

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-failed:
		logger.Error("shutting down after a failure", "err", runErr)
	}
	stop()
	if metricsSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = metricsSrv.Shutdown(sctx)
		cancel()
	}
	wg.Wait()
	if err := b.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// readSettings reads a broker settings file: YAML (nested maps flattened
// with dots) for *.yaml/*.yml, otherwise Java-properties style key=value
// (or key: value) lines with # and ! comments.
func readSettings(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out := map[string]string{}
		if err := flatten("", doc, out); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return out, nil
	}
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: expected key=value, got %q", path, n, line)
		}
		out[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return out, sc.Err()
}

func flatten(prefix string, v any, out map[string]string) error {
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if err := flatten(key, sub, out); err != nil {
				return err
			}
		}
	case []any:
		parts := make([]string, 0, len(t))
		for _, x := range t {
			parts = append(parts, fmt.Sprint(x))
		}
		out[prefix] = strings.Join(parts, ",")
	case nil:
		return fmt.Errorf("setting %q has no value", prefix)
	default:
		out[prefix] = fmt.Sprint(t)
	}
	return nil
}
