package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Config configures a Worker. Zero values get the defaults noted.
type Config struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
	// ClientOpts are extra franz-go options for every client the worker
	// makes (TLS, SASL, client ID), applied after the worker's own.
	ClientOpts []kgo.Opt

	// WorkerID names this worker in status reports and in the static
	// group memberships of its tasks, so it must be unique among workers
	// sharing a cluster and stable across restarts; default hostname
	// (`sluice connect` defaults to hostname:REST port).
	WorkerID string

	// Internal topics. Defaults _sluice-connect-configs, -offsets, -status.
	ConfigTopic string
	OffsetTopic string
	StatusTopic string
	// OffsetTopicPartitions and StatusTopicPartitions are used when the
	// worker creates those topics; default 5 each (the configs topic always
	// has one partition, so its records stay in order).
	OffsetTopicPartitions int32
	StatusTopicPartitions int32
	// ReplicationFactor for topics the worker creates; default -1, the
	// broker's default.
	ReplicationFactor int16

	// OffsetFlushInterval is how often sink tasks flush and commit, and the
	// longest a source batch waits for its positions to be stored; default
	// 5s.
	OffsetFlushInterval time.Duration
	// ShutdownTimeout bounds a task's graceful stop (final flush and
	// commit); default 30s.
	ShutdownTimeout time.Duration
	// ApplyTimeout bounds how long a REST change waits for the worker to
	// read its config record back and apply it; default 60s.
	ApplyTimeout time.Duration

	// SourceMaxInFlightRecords and SourceMaxInFlightBytes bound each
	// source task's window of records produced but not yet acknowledged by
	// the log (kgo.MaxBufferedRecords, kgo.MaxBufferedBytes): the task
	// keeps polling while the window has room, so the producer always has
	// records to batch, and blocks when it is full. Defaults 50000 records
	// and 64 MiB. A single record larger than the byte bound fails.
	SourceMaxInFlightRecords int
	SourceMaxInFlightBytes   int

	// ExactlyOnceSourceSupport is Kafka Connect's worker setting
	// exactly.once.source.support (KIP-618): ExactlyOnceDisabled (the
	// default) runs source tasks at-least-once; ExactlyOnceEnabled gives
	// every source task a transactional producer that writes its records
	// and their positions in one transaction; ExactlyOncePreparing runs
	// tasks at-least-once but fences the transactional producers of
	// earlier instances first, for a rolling change of several workers
	// from disabled to enabled (all preparing, then all enabled).
	ExactlyOnceSourceSupport ExactlyOnceMode
	// GroupID names the cluster of workers sharing the internal topics
	// (Kafka Connect's group.id); it prefixes the transactional ids of
	// exactly-once source tasks ("<GroupID>-<connector>-<task>"), so
	// clusters sharing a Kafka cluster need distinct ids. Default
	// "sluice-connect".
	GroupID string
	// TransactionTimeout is the transaction.timeout.ms of exactly-once
	// source tasks: a transaction left open longer (a worker frozen or cut
	// off) is aborted by the broker. Default 60s; at most 15 minutes,
	// Kafka's default transaction.max.timeout.ms. It must exceed a
	// connector's transaction.boundary.interval.ms.
	TransactionTimeout time.Duration

	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the worker's Prometheus metrics; default a
	// private registry, served at /metrics by Handler.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; default the private registry (or
	// Registerer when it is also a Gatherer).
	Gatherer prometheus.Gatherer
}

// Defaults for Config.
const (
	DefaultConfigTopic         = "_sluice-connect-configs"
	DefaultOffsetTopic         = "_sluice-connect-offsets"
	DefaultStatusTopic         = "_sluice-connect-status"
	DefaultOffsetFlushInterval = 5 * time.Second
	DefaultShutdownTimeout     = 30 * time.Second
	DefaultApplyTimeout        = 60 * time.Second

	DefaultSourceMaxInFlightRecords = 50000
	DefaultSourceMaxInFlightBytes   = 64 << 20

	DefaultGroupID            = "sluice-connect"
	DefaultTransactionTimeout = 60 * time.Second
	// MaxTransactionTimeout is Kafka's default transaction.max.timeout.ms;
	// a broker refuses a longer transaction.timeout.ms.
	MaxTransactionTimeout = 15 * time.Minute
)

// ExactlyOnceMode is the worker's exactly.once.source.support.
type ExactlyOnceMode string

// Values of exactly.once.source.support.
const (
	ExactlyOnceDisabled  ExactlyOnceMode = "disabled"
	ExactlyOncePreparing ExactlyOnceMode = "preparing"
	ExactlyOnceEnabled   ExactlyOnceMode = "enabled"
)

// ErrInvalidWorkerConfig is returned by New for a Config it cannot run.
var ErrInvalidWorkerConfig = errors.New("invalid worker config")

// ParseExactlyOnceMode parses an exactly.once.source.support value.
func ParseExactlyOnceMode(s string) (ExactlyOnceMode, error) {
	switch m := ExactlyOnceMode(s); m {
	case ExactlyOnceDisabled, ExactlyOncePreparing, ExactlyOnceEnabled:
		return m, nil
	}
	return "", fmt.Errorf("%w: %q is not one of disabled, preparing, enabled", ErrInvalidWorkerConfig, s)
}

func (c *Config) setDefaults() error {
	if len(c.Brokers) == 0 {
		return errors.New("worker: no brokers configured")
	}
	if c.WorkerID == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "worker"
		}
		c.WorkerID = h
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.ConfigTopic, DefaultConfigTopic)
	def(&c.OffsetTopic, DefaultOffsetTopic)
	def(&c.StatusTopic, DefaultStatusTopic)
	if c.OffsetTopicPartitions <= 0 {
		c.OffsetTopicPartitions = 5
	}
	if c.StatusTopicPartitions <= 0 {
		c.StatusTopicPartitions = 5
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.OffsetFlushInterval <= 0 {
		c.OffsetFlushInterval = DefaultOffsetFlushInterval
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.ApplyTimeout <= 0 {
		c.ApplyTimeout = DefaultApplyTimeout
	}
	if c.SourceMaxInFlightRecords <= 0 {
		c.SourceMaxInFlightRecords = DefaultSourceMaxInFlightRecords
	}
	if c.SourceMaxInFlightBytes <= 0 {
		c.SourceMaxInFlightBytes = DefaultSourceMaxInFlightBytes
	}
	if c.ExactlyOnceSourceSupport == "" {
		c.ExactlyOnceSourceSupport = ExactlyOnceDisabled
	}
	if _, err := ParseExactlyOnceMode(string(c.ExactlyOnceSourceSupport)); err != nil {
		return fmt.Errorf("worker: exactly.once.source.support: %w", err)
	}
	def(&c.GroupID, DefaultGroupID)
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = DefaultTransactionTimeout
	}
	if c.TransactionTimeout > MaxTransactionTimeout {
		return fmt.Errorf("worker: %w: transaction timeout %s is longer than %s", ErrInvalidWorkerConfig, c.TransactionTimeout, MaxTransactionTimeout)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	}
	if c.Gatherer == nil {
		if g, ok := c.Registerer.(prometheus.Gatherer); ok {
			c.Gatherer = g
		} else {
			c.Gatherer = prometheus.DefaultGatherer
		}
	}
	return nil
}

// Connector config keys the worker itself understands, as in Kafka Connect.
const (
	KeyName            = "name"
	KeyClass           = "connector.class"
	KeyTasksMax        = "tasks.max"
	KeyTopics          = "topics"
	KeyTopicsRegex     = "topics.regex"
	KeyTopic           = "topic"
	KeyTolerance       = "errors.tolerance"
	KeyRetryTimeout    = "errors.retry.timeout"
	KeyRetryDelayMax   = "errors.retry.delay.max.ms"
	KeyLogEnable       = "errors.log.enable"
	KeyLogMessages     = "errors.log.include.messages"
	KeyDLQTopic        = "errors.deadletterqueue.topic.name"
	KeyDLQReplication  = "errors.deadletterqueue.topic.replication.factor"
	KeyDLQHeaders      = "errors.deadletterqueue.context.headers.enable"
	KeyMaxPollRecords  = "consumer.override.max.poll.records"
	KeyAutoOffsetReset = "consumer.override.auto.offset.reset"
	KeyTopicPartitions = "topic.creation.default.partitions"
	KeyTopicRepl       = "topic.creation.default.replication.factor"

	// Exactly-once sources (KIP-618).
	KeyExactlyOnce         = "exactly.once.support"
	KeyTxnBoundary         = "transaction.boundary"
	KeyTxnBoundaryInterval = "transaction.boundary.interval.ms"
)

// Values of transaction.boundary.
const (
	BoundaryPoll      = "poll"
	BoundaryInterval  = "interval"
	BoundaryConnector = "connector"
)

// Groups of the common fields in validate responses.
const (
	groupCommon = "Common"
	groupErrors = "Error Handling"
	groupTopics = "Topic Creation"
	groupEOS    = "Exactly Once"
)

// commonSpec is the part of every connector's config the worker handles.
var commonSpec = connectors.ConfigSpec{
	{Name: KeyName, Type: connectors.TypeString, Required: true, Group: groupCommon,
		Doc: "Globally unique name of the connector."},
	{Name: KeyClass, Type: connectors.TypeString, Required: true, Group: groupCommon,
		Doc: "Name of the connector plugin (see GET /connector-plugins)."},
	{Name: KeyTasksMax, Type: connectors.TypeInt, Default: "1", Validate: connectors.Between(1, 1024), Group: groupCommon,
		Doc: "Maximum number of tasks. Sink tasks share the topics' partitions through the consumer group; sources split only if the plugin supports it."},
	{Name: KeyTolerance, Type: connectors.TypeEnum, Enum: []string{"none", "all"}, Default: "none", Group: groupErrors,
		Doc: "none fails the task on the first record it cannot process; all skips such records (logging them and sending them to the dead-letter topic when one is set)."},
	{Name: KeyRetryTimeout, Type: connectors.TypeDuration, Default: "-1", Group: groupErrors,
		Doc: "How long to keep retrying a retriable failure before treating it as fatal; negative retries forever."},
	{Name: KeyRetryDelayMax, Type: connectors.TypeDuration, Default: "60000", Validate: connectors.Positive, Group: groupErrors,
		Doc: "Upper bound of the exponential backoff between retries."},
	{Name: KeyLogEnable, Type: connectors.TypeBool, Default: "false", Group: groupErrors,
		Doc: "Log every tolerated error."},
	{Name: KeyLogMessages, Type: connectors.TypeBool, Default: "false", Group: groupErrors,
		Doc: "Include the record's topic, partition and offset in tolerated-error logs."},
}

// sinkSpec adds the sink-only common fields.
var sinkSpec = commonSpec.Merge(connectors.ConfigSpec{
	{Name: KeyTopics, Type: connectors.TypeList, Group: groupCommon,
		Doc: "Topics to consume (this or topics.regex is required)."},
	{Name: KeyTopicsRegex, Type: connectors.TypeString, Group: groupCommon,
		Doc: "Regular expression of topics to consume."},
	{Name: KeyDLQTopic, Type: connectors.TypeString, Group: groupErrors,
		Doc: "Dead-letter topic for records the sink refuses (with errors.tolerance=all)."},
	{Name: KeyDLQReplication, Type: connectors.TypeInt, Default: "-1", Group: groupErrors,
		Doc: "Replication factor of the dead-letter topic when the worker creates it; -1 is the broker default."},
	{Name: KeyDLQHeaders, Type: connectors.TypeBool, Default: "true", Group: groupErrors,
		Doc: "Add __connect.errors.* headers (original topic, partition, offset, error) to dead-letter records. Kafka Connect defaults this to false; Sluice to true."},
	{Name: KeyMaxPollRecords, Type: connectors.TypeInt, Default: "500", Validate: connectors.Between(1, 1_000_000), Group: groupCommon,
		Doc: "Most records handed to the sink in one batch."},
	{Name: KeyAutoOffsetReset, Type: connectors.TypeEnum, Enum: []string{"earliest", "latest"}, Default: "earliest", Group: groupCommon,
		Doc: "Where to start partitions the group has no committed offset for."},
})

// sourceSpec adds the source-only common fields.
var sourceSpec = commonSpec.Merge(connectors.ConfigSpec{
	{Name: KeyTopic, Type: connectors.TypeString, Group: groupCommon,
		Doc: "Topic for records whose source does not name one."},
	{Name: KeyTopicPartitions, Type: connectors.TypeInt, Default: "1", Validate: connectors.AtLeast(1), Group: groupTopics,
		Doc: "Partitions of topics the worker creates for this source."},
	{Name: KeyTopicRepl, Type: connectors.TypeInt, Default: "-1", Group: groupTopics,
		Doc: "Replication factor of topics the worker creates for this source; -1 is the broker default."},
	{Name: KeyExactlyOnce, Type: connectors.TypeEnum, Enum: []string{"requested", "required"}, Default: "requested", Group: groupEOS,
		Doc: "required refuses the connector unless the worker has exactly.once.source.support=enabled and the source declares that it can be exactly-once for this config; requested runs it with transactions whenever the worker has them."},
	{Name: KeyTxnBoundary, Type: connectors.TypeEnum, Enum: []string{BoundaryPoll, BoundaryInterval, BoundaryConnector}, Default: BoundaryPoll, Group: groupEOS,
		Doc: "Where exactly-once source tasks commit their transactions: after every non-empty poll, every transaction.boundary.interval.ms, or where the source marks the end of one (sources that define transactions)."},
	{Name: KeyTxnBoundaryInterval, Type: connectors.TypeDuration, Validate: connectors.Positive, Group: groupEOS,
		Doc: "Transaction length with transaction.boundary=interval; default the worker's offset.flush.interval.ms. Ignored with other boundaries."},
})

// fullSpec returns the spec a connector config is validated against: the
// plugin's own fields first (they win on a name clash), then the worker's.
func fullSpec(p connectors.Plugin) connectors.ConfigSpec {
	if p.Kind == connectors.KindSink {
		return p.Spec.Merge(sinkSpec)
	}
	return p.Spec.Merge(sourceSpec)
}

// Spec returns the full spec a connector of plugin p is validated against:
// the plugin's fields, then the worker's common fields for its kind.
func Spec(p connectors.Plugin) connectors.ConfigSpec { return fullSpec(p) }

// validateConfig checks a connector config: plugin, common and plugin
// fields, and cross-field rules. It returns the plugin (when found) and the
// per-field errors. Rules that depend on a worker's settings are left to
// validateConfigFor.
func validateConfig(raw map[string]string) (connectors.Plugin, []connectors.FieldError) {
	return validateConfigFor(raw, nil)
}

// validateConfigFor is validateConfig plus the rules that depend on the
// settings of the worker wc (nil: none).
func validateConfigFor(raw map[string]string, wc *Config) (connectors.Plugin, []connectors.FieldError) {
	class := raw[KeyClass]
	if class == "" {
		errs := commonSpec.Validate(raw)
		return connectors.Plugin{}, errs
	}
	p, err := connectors.Lookup(class)
	if err != nil {
		errs := commonSpec.Validate(raw)
		errs = append(errs, connectors.FieldError{Field: KeyClass, Message: fmt.Sprintf("no connector plugin named %q (see GET /connector-plugins)", class)})
		return connectors.Plugin{}, errs
	}
	errs := fullSpec(p).Validate(raw)
	if p.Kind == connectors.KindSink {
		hasTopics := len(splitNonEmpty(raw[KeyTopics])) > 0
		hasRegex := raw[KeyTopicsRegex] != ""
		switch {
		case hasTopics && hasRegex:
			errs = append(errs, connectors.FieldError{Field: KeyTopics, Message: "set topics or topics.regex, not both"})
		case !hasTopics && !hasRegex:
			errs = append(errs, connectors.FieldError{Field: KeyTopics, Message: "required: set topics or topics.regex"})
		}
		if hasRegex {
			if _, err := compileRegex(raw[KeyTopicsRegex]); err != nil {
				errs = append(errs, connectors.FieldError{Field: KeyTopicsRegex, Message: err.Error()})
			}
		}
		if dlq := raw[KeyDLQTopic]; dlq != "" {
			for _, t := range splitNonEmpty(raw[KeyTopics]) {
				if t == dlq {
					errs = append(errs, connectors.FieldError{Field: KeyDLQTopic, Message: "the dead-letter topic cannot be one of the topics consumed"})
				}
			}
		}
	}
	if p.Kind == connectors.KindSource {
		errs = append(errs, validateExactlyOnce(p, raw, wc)...)
	}
	return p, errs
}
