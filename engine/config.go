package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Errors callers can branch on.
var (
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("invalid engine config")
	// ErrMissingSourceTopic: a topic the topology reads does not exist.
	ErrMissingSourceTopic = errors.New("source topic does not exist")
	// ErrCopartition: topics joined by key have different partition counts.
	ErrCopartition = errors.New("co-partitioned topics differ in partition count")
	// ErrInternalTopic: an internal topic exists with the wrong shape.
	ErrInternalTopic = errors.New("internal topic mismatch")
	// ErrStateDirLocked: another running instance uses the same state
	// directory (exactly-once needs one transactional id per instance).
	ErrStateDirLocked = errors.New("state directory in use by another instance")
)

// Guarantee is an application's processing guarantee (Kafka Streams'
// processing.guarantee).
type Guarantee string

const (
	// AtLeastOnce flushes outputs, changelogs and stores before committing
	// input offsets: a crash replays input since the last commit, so an
	// update is never lost but may be applied (and emitted) twice.
	AtLeastOnce Guarantee = "at_least_once"
	// ExactlyOnce (Kafka Streams' exactly_once_v2) writes the outputs,
	// changelog records and input offsets of each commit interval in one
	// Kafka transaction per instance, and reads inputs and changelogs
	// read_committed: after any crash, every input record has affected
	// state and outputs exactly once as seen by read_committed consumers.
	ExactlyOnce Guarantee = "exactly_once"
)

// MaxTransactionTimeout is the largest Config.TransactionTimeout (Kafka's
// default transaction.max.timeout.ms).
const MaxTransactionTimeout = 15 * time.Minute

// Config configures one instance of an application. Instances sharing an
// ApplicationID form one consumer group and share the work.
type Config struct {
	// ApplicationID names the application: the consumer group id and the
	// prefix of its internal topics. Required.
	ApplicationID string
	// Brokers are the seed brokers ("host:port"). Required.
	Brokers []string
	// StateDir holds local state stores, one directory per task
	// (default: <os temp dir>/sluice-streams).
	StateDir string
	// Guarantee is AtLeastOnce (the default) or ExactlyOnce.
	Guarantee Guarantee
	// CommitInterval is how often offsets are committed, after flushing
	// stores, changelogs and outputs (default 1s; 100ms with ExactlyOnce,
	// as in Kafka Streams, because read_committed consumers see results
	// only when their transaction commits). Shorter means fewer duplicates
	// after a crash (at-least-once) or lower latency (exactly-once);
	// longer means more throughput.
	CommitInterval time.Duration
	// TransactionTimeout bounds an exactly-once transaction (default 10s,
	// at most MaxTransactionTimeout): the broker aborts a transaction left
	// open longer, so a crashed instance holds back read_committed
	// consumers of its outputs at most this long. It must exceed the
	// commit interval plus the longest pause in processing.
	TransactionTimeout time.Duration
	// TransactionalID is the exactly-once producer's transactional.id.
	// It must be stable across restarts of one instance (a restarted
	// instance fences its predecessor's transaction with it) and unique
	// among running instances. Default: "<ApplicationID>-<InstanceID>",
	// or with no InstanceID "<ApplicationID>-<id>" with an id kept in
	// StateDir (which is then locked against a second instance).
	TransactionalID string
	// MaxTaskIdle is how long a task reading several partitions waits for
	// one that is still catching up (has no records buffered but had not
	// reached its end offset when the task started) before processing the
	// others out of timestamp order (default 2s).
	MaxTaskIdle time.Duration
	// MaxPollRecords bounds the records processed between rebalance checks
	// (default 10000).
	MaxPollRecords int
	// InstanceID enables static group membership: a restarted instance with
	// the same id gets its tasks back without a rebalance.
	InstanceID string
	// ReplicationFactor of internal topics (default -1: the broker default).
	ReplicationFactor int16
	// InMemoryStores keeps every store in memory (restored from changelogs on
	// assignment) instead of Pebble on disk.
	InMemoryStores bool
	// CacheMaxEntries bounds each store's write cache (default
	// operators.DefaultCacheMaxEntries).
	CacheMaxEntries int
	// DeadLetterTopic receives input records that cannot be decoded, with
	// headers saying where they came from and why. Empty: such records
	// are logged and skipped (and counted).
	DeadLetterTopic string
	// FailOnBadRecord stops the application at the first undecodable record
	// instead.
	FailOnBadRecord bool
	// SessionTimeout and RebalanceTimeout of the consumer group (defaults
	// 10s and 60s).
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	// ProducerLinger batches produced records (default 5ms).
	ProducerLinger time.Duration
	// MaxBufferedRecords bounds records buffered by the producer before
	// Produce blocks (default 100000).
	MaxBufferedRecords int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the engine's Prometheus metrics (nil: a private
	// registry, see App.Gatherer).
	Registerer prometheus.Registerer
	// ClientOptions are appended to every franz-go client the engine makes
	// (TLS, SASL, ...).
	ClientOptions []kgo.Opt
}

func (c *Config) defaults() error {
	if c.ApplicationID == "" {
		return fmt.Errorf("%w: ApplicationID is required", ErrConfig)
	}
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: Brokers is required", ErrConfig)
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "sluice-streams")
	}
	switch c.Guarantee {
	case "":
		c.Guarantee = AtLeastOnce
	case AtLeastOnce, ExactlyOnce:
	default:
		return fmt.Errorf("%w: Guarantee %q (want %q or %q)", ErrConfig, c.Guarantee, AtLeastOnce, ExactlyOnce)
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
		if c.Guarantee == ExactlyOnce {
			c.CommitInterval = 100 * time.Millisecond
		}
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 10 * time.Second
	}
	if c.TransactionTimeout > MaxTransactionTimeout {
		return fmt.Errorf("%w: TransactionTimeout %v is above the maximum %v", ErrConfig, c.TransactionTimeout, MaxTransactionTimeout)
	}
	if c.Guarantee == ExactlyOnce && c.TransactionTimeout <= c.CommitInterval {
		return fmt.Errorf("%w: TransactionTimeout %v must be longer than CommitInterval %v", ErrConfig, c.TransactionTimeout, c.CommitInterval)
	}
	if c.MaxTaskIdle <= 0 {
		c.MaxTaskIdle = 2 * time.Second
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 10_000
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 60 * time.Second
	}
	if c.ProducerLinger <= 0 {
		c.ProducerLinger = 5 * time.Millisecond
	}
	if c.MaxBufferedRecords <= 0 {
		c.MaxBufferedRecords = 100_000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
