package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"

	// Built-in connector plugins register themselves.
	_ "github.com/sluicehq/sluice/connectors/file"
	_ "github.com/sluicehq/sluice/connectors/httpsrc"
	_ "github.com/sluicehq/sluice/connectors/mqtt"
	_ "github.com/sluicehq/sluice/connectors/parquet"
	_ "github.com/sluicehq/sluice/connectors/postgres"
)

const (
	defaultConnectREST = "127.0.0.1:8083"
	connectURLEnv      = "SLUICE_CONNECT_URL"
)

func init() {
	root.AddCommand(newConnectCmd())
	serveExtensions = append(serveExtensions, connectServeExtension())
}

// connectFlags are the worker settings shared by `sluice connect` and
// `sluice serve --connect-rest-listen`.
type connectFlags struct {
	rest       string
	configFile string
	workerID   string
	logLevel   string
}

func newConnectCmd() *cobra.Command {
	var cf connectFlags
	var co clientOptions
	cmd := &cobra.Command{
		Use:   "connect [connector.json ...]",
		Short: "Run a connect worker against any Kafka-protocol cluster, or manage one over REST",
		Long: `Run a connect worker: it runs source and sink connectors as Kafka clients of
--brokers (Sluice, Apache Kafka, Redpanda, MSK), keeps connector configs,
source positions and statuses in compacted topics, and serves a REST API
shaped like Kafka Connect's on --rest-listen.

Connector files given as arguments are created (or updated) once the worker
is ready: JSON as {"name": ..., "config": {...}} or a flat JSON object, or
key=value .properties files with a name key.

--config takes worker settings in the Kafka Connect worker.properties
vocabulary (YAML or key=value): bootstrap.servers, listeners (or
rest.listen), worker.id, config.storage.topic, offset.storage.topic,
status.storage.topic, offset.storage.partitions, status.storage.partitions,
replication.factor, offset.flush.interval.ms,
task.shutdown.graceful.timeout.ms, exactly.once.source.support
(disabled, preparing, enabled: source tasks write records and positions in
Kafka transactions, KIP-618), group.id (prefix of their transactional
ids), transaction.timeout.ms. Flags override the file.

The subcommands are REST clients of a running worker (--url, env
` + connectURLEnv + `).`,
		Example: `  sluice connect --brokers 127.0.0.1:9092 --rest-listen 127.0.0.1:8083 file-sink.json
  sluice connect list
  sluice connect status my-sink
  sluice connect restart my-sink --include-tasks --only-failed`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConnect(cmd, &cf, &co, args)
		},
	}
	addClientFlags(cmd, &co)
	f := cmd.Flags()
	f.StringVar(&cf.rest, "rest-listen", defaultConnectREST, "host:port for the REST API")
	f.StringVar(&cf.configFile, "config", "", "worker settings file (YAML or key=value properties)")
	f.StringVar(&cf.workerID, "worker-id", "", "worker id in statuses, unique per worker (default: hostname:REST port)")
	f.StringVar(&cf.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	addConnectClientCmds(cmd)
	return cmd
}

// workerSettings maps the worker settings file onto worker.Config.
func workerSettings(path string, cfg *worker.Config, rest *string) error {
	settings, err := readSettings(path)
	if err != nil {
		return err
	}
	for k, v := range settings {
		var err error
		switch k {
		case "bootstrap.servers", "brokers":
			cfg.Brokers = splitComma(v)
		case "listeners", "rest.listen":
			*rest = strings.TrimPrefix(strings.TrimPrefix(splitComma(v)[0], "http://"), "HTTP://")
		case "worker.id":
			cfg.WorkerID = v
		case "config.storage.topic":
			cfg.ConfigTopic = v
		case "offset.storage.topic":
			cfg.OffsetTopic = v
		case "status.storage.topic":
			cfg.StatusTopic = v
		case "offset.storage.partitions":
			cfg.OffsetTopicPartitions, err = parseInt32(v)
		case "status.storage.partitions":
			cfg.StatusTopicPartitions, err = parseInt32(v)
		case "replication.factor", "config.storage.replication.factor", "offset.storage.replication.factor", "status.storage.replication.factor":
			var n int32
			n, err = parseInt32(v)
			cfg.ReplicationFactor = int16(n)
		case "offset.flush.interval.ms":
			cfg.OffsetFlushInterval, err = parseMillis(v)
		case "task.shutdown.graceful.timeout.ms":
			cfg.ShutdownTimeout, err = parseMillis(v)
		case "exactly.once.source.support":
			cfg.ExactlyOnceSourceSupport, err = worker.ParseExactlyOnceMode(strings.TrimSpace(v))
		case "group.id":
			cfg.GroupID = v
		case "transaction.timeout.ms", "producer.transaction.timeout.ms":
			cfg.TransactionTimeout, err = parseMillis(v)
			if err == nil && (cfg.TransactionTimeout <= 0 || cfg.TransactionTimeout > worker.MaxTransactionTimeout) {
				err = fmt.Errorf("must be between 1 and %d", worker.MaxTransactionTimeout.Milliseconds())
			}
		default:
			return fmt.Errorf("%s: unknown worker setting %q", path, k)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, k, err)
		}
	}
	return nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if out == nil {
		out = []string{""}
	}
	return out
}

func parseInt32(s string) (int32, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %q", s)
	}
	return int32(n), nil
}

func parseMillis(s string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a number of milliseconds: %q", s)
	}
	return time.Duration(n) * time.Millisecond, nil
}

func newConnectLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func runConnect(cmd *cobra.Command, cf *connectFlags, co *clientOptions, files []string) error {
	logger, err := newConnectLogger(cf.logLevel)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var cfg worker.Config
	rest := cf.rest
	if cf.configFile != "" {
		if err := workerSettings(cf.configFile, &cfg, &rest); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	if cmd.Flags().Changed("rest-listen") {
		rest = cf.rest
	}
	if cmd.Flags().Changed("brokers") || len(cfg.Brokers) == 0 {
		if cfg.Brokers, err = co.seeds(); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	if cf.workerID != "" {
		cfg.WorkerID = cf.workerID
	}
	if cfg.ClientOpts, err = co.securityOpts(); err != nil {
		return &exitError{code: 2, err: err}
	}
	cfg.Logger = logger
	connectorCfgs, err := readConnectorFiles(files)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	return runWorker(cmd.Context(), cfg, rest, connectorCfgs)
}

// securityOpts returns only the TLS and SASL options of the client flags:
// the worker is long-running and must not inherit the CLI's short retry
// timeout.
func (o *clientOptions) securityOpts() ([]kgo.Opt, error) {
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

// namedConfig is one connector from a file.
type namedConfig struct {
	file   string
	name   string
	config map[string]string
}

// readConnectorFiles reads connector definitions: JSON {"name","config"},
// flat JSON, or .properties.
func readConnectorFiles(files []string) ([]namedConfig, error) {
	var out []namedConfig
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("connector file: %w", err)
		}
		cfg := map[string]string{}
		name := ""
		if strings.EqualFold(filepath.Ext(path), ".properties") {
			if cfg, err = readSettings(path); err != nil {
				return nil, err
			}
		} else {
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(data, &doc); err != nil {
				return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
			}
			src := doc
			if raw, ok := doc["config"]; ok {
				src = nil
				if err := json.Unmarshal(raw, &src); err != nil {
					return nil, fmt.Errorf("%s: \"config\" is not an object: %w", path, err)
				}
				if raw, ok := doc["name"]; ok {
					if err := json.Unmarshal(raw, &name); err != nil {
						return nil, fmt.Errorf("%s: \"name\" is not a string", path)
					}
				}
			}
			for k, v := range src {
				var s string
				if json.Unmarshal(v, &s) != nil {
					s = strings.TrimSpace(string(v))
					if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
						return nil, fmt.Errorf("%s: config %q must be a string, number or boolean", path, k)
					}
				}
				cfg[k] = s
			}
		}
		if name == "" {
			name = cfg["name"]
		}
		if name == "" {
			return nil, fmt.Errorf("%s: connector has no name", path)
		}
		out = append(out, namedConfig{file: path, name: name, config: cfg})
	}
	return out, nil
}

// runWorker runs a worker and its REST server until ctx ends.
func runWorker(ctx context.Context, cfg worker.Config, rest string, connectorCfgs []namedConfig) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ln, err := net.Listen("tcp", rest)
	if err != nil {
		return fmt.Errorf("connect REST listener: %w", err)
	}
	if cfg.WorkerID == "" {
		// Like Kafka Connect: host:port of the REST API, unique per worker
		// (workers use it for static group membership).
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		cfg.WorkerID = net.JoinHostPort(host, port)
	}
	w, err := worker.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	logger := cfg.Logger
	srv := &http.Server{Handler: w.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	go func() { done <- w.Run(ctx) }()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			done <- fmt.Errorf("connect REST server: %w", err)
		}
	}()
	logger.Info("connect REST API listening", "addr", ln.Addr().String())
	go func() {
		for _, nc := range connectorCfgs {
			if _, created, err := w.PutConfig(ctx, nc.name, nc.config); err != nil {
				logger.Error("connector file", "file", nc.file, "connector", nc.name, "err", err)
			} else {
				logger.Info("connector from file", "file", nc.file, "connector", nc.name, "created", created)
			}
		}
	}()
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-done:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	scancel()
	if runErr == nil {
		runErr = <-done // the worker's graceful stop
	}
	return runErr
}

func connectServeExtension() ServeExtension {
	var cf connectFlags
	return ServeExtension{
		Name: "connect",
		Flags: func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.StringVar(&cf.rest, "connect-rest-listen", "", "run a connect worker inside the broker with its REST API on host:port (off when empty)")
			f.StringVar(&cf.configFile, "connect-config", "", "connect worker settings file (see sluice connect --help)")
			f.StringSlice("connect-connector", nil, "connector file to create at start (repeatable)")
		},
		Run: func(ctx context.Context, cmd *cobra.Command, brokerAddr string) error {
			if cf.rest == "" {
				return nil
			}
			var cfg worker.Config
			rest := cf.rest
			if cf.configFile != "" {
				if err := workerSettings(cf.configFile, &cfg, &rest); err != nil {
					return err
				}
				rest = cf.rest
			}
			cfg.Brokers = []string{brokerAddr}
			level, _ := cmd.Flags().GetString("log-level")
			logger, err := newConnectLogger(level)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			files, _ := cmd.Flags().GetStringSlice("connect-connector")
			cc, err := readConnectorFiles(files)
			if err != nil {
				return err
			}
			return runWorker(ctx, cfg, rest, cc)
		},
	}
}

// REST client subcommands.

func addConnectClientCmds(parent *cobra.Command) {
	var url string
	def := os.Getenv(connectURLEnv)
	if def == "" {
		def = "http://" + defaultConnectREST
	}
	call := func(cmd *cobra.Command, method, path string, body any) error {
		return connectCall(cmd.Context(), cmd.OutOrStdout(), url, method, path, body)
	}
	one := func(use, short, method, suffix string) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return call(cmd, method, "/connectors/"+args[0]+suffix, nil)
			}}
	}
	var includeTasks, onlyFailed bool
	restart := &cobra.Command{Use: "restart NAME", Short: "Restart a connector (and its tasks with --include-tasks)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", fmt.Sprintf("/connectors/%s/restart?includeTasks=%t&onlyFailed=%t", args[0], includeTasks, onlyFailed), nil)
		}}
	restart.Flags().BoolVar(&includeTasks, "include-tasks", false, "restart the tasks too")
	restart.Flags().BoolVar(&onlyFailed, "only-failed", false, "restart only what failed")
	cmds := []*cobra.Command{
		{Use: "list", Short: "List connectors with their status", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return call(cmd, "GET", "/connectors?expand=status", nil)
			}},
		{Use: "plugins", Short: "List connector plugins", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return call(cmd, "GET", "/connector-plugins", nil) }},
		one("status", "Show a connector's status", "GET", "/status"),
		one("config", "Show a connector's config", "GET", "/config"),
		one("pause", "Pause a connector", "PUT", "/pause"),
		one("resume", "Resume a connector", "PUT", "/resume"),
		one("delete", "Delete a connector", "DELETE", ""),
		one("offsets", "Show a connector's offsets", "GET", "/offsets"),
		restart,
		{Use: "create FILE", Short: "Create or update a connector from a JSON or .properties file", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ncs, err := readConnectorFiles(args)
				if err != nil {
					return err
				}
				return call(cmd, "PUT", "/connectors/"+ncs[0].name+"/config", ncs[0].config)
			}},
		{Use: "validate FILE", Short: "Validate a connector file against its plugin", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ncs, err := readConnectorFiles(args)
				if err != nil {
					return err
				}
				return call(cmd, "PUT", "/connector-plugins/"+ncs[0].config["connector.class"]+"/config/validate", ncs[0].config)
			}},
	}
	for _, c := range cmds {
		c.Flags().StringVar(&url, "url", def, "connect worker REST URL (env "+connectURLEnv+")")
		parent.AddCommand(c)
	}
	parent.AddCommand(&cobra.Command{Use: "docs [PLUGIN ...]", Short: "Print Markdown reference docs of the connector plugins built into this binary",
		Long: "Prints each plugin's description and config table, generated from its declared spec (plugin fields, then the worker's common fields).",
		RunE: func(cmd *cobra.Command, args []string) error {
			return printPluginDocs(cmd.OutOrStdout(), args)
		}})
}

// printPluginDocs writes Markdown docs of the named plugins (all when none
// are named).
func printPluginDocs(out io.Writer, names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		if _, err := connectors.Lookup(n); err != nil {
			return err
		}
		want[n] = true
	}
	for _, p := range connectors.Plugins() {
		if len(want) > 0 && !want[p.Name] {
			continue
		}
		fmt.Fprintf(out, "## %s (%s)\n\n%s\n\n%s\n", p.Name, p.Kind, p.Doc, worker.Spec(p).Doc())
	}
	return nil
}

// connectCall makes one REST call and prints the (indented) JSON response;
// an error status becomes the command's error.
func connectCall(ctx context.Context, out io.Writer, base, method, path string, body any) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("connect worker at %s: %w", base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Message)
		}
		return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		fmt.Fprintf(out, "%d %s\n", resp.StatusCode, http.StatusText(resp.StatusCode))
		return nil
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, data, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(data)
	}
	w := bufio.NewWriter(out)
	w.Write(bytes.TrimSpace(pretty.Bytes()))
	w.WriteByte('\n')
	return w.Flush()
}
