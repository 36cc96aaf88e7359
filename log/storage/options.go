package storage

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// Options are engine-wide settings: the limits the engine enforces whatever
// the topic says, and the hooks tests replace.
type Options struct {
	// MaxBatchBytes caps the size of one record batch, whatever the topic's
	// max.message.bytes says. It bounds memory per append and per recovery
	// step. 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int32
	// MaxOpenFiles caps the file descriptors one Manager (or one Log
	// opened alone) keeps open between calls. It counts: one for the
	// Manager's directory lock; two per open partition (its directory
	// lock and its active segment's .log), which are always held; and two
	// per closed segment whose handle is cached (.log and .index), which
	// get what is left, at least one handle, in an LRU, and are reopened
	// on demand. Opening partitions shrinks the LRU; if the partitions
	// alone exceed the limit a warning is logged and each read of a closed
	// segment may reopen its files. Not counted, because they are
	// short-lived and bounded by concurrency: temporary files of atomic
	// writes, directories opened to fsync them, a time index opened by a
	// timestamp lookup, compaction's output files, and the handle of a
	// rolled segment whose background flush is in progress after it left
	// the LRU. 0 means half the process's open-file limit (RLIMIT_NOFILE,
	// which Go raises to the hard limit at start), or DefaultMaxOpenFiles
	// if that cannot be read.
	MaxOpenFiles int
	// MaxDecompressedBytes caps the decompressed size of one batch when
	// the engine must look inside (compaction, timestamp lookup), so a
	// compression bomb fails instead of exhausting memory. 0 means
	// DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int
	// Logger receives recovery, truncation and retention events. nil means
	// slog.Default().
	Logger *slog.Logger
	// SkipReadVerify turns off the CRC check of every batch served by
	// Read. The check costs CPU (CRC-32C runs at several GB/s) but means
	// bit rot in old segments is reported instead of served.
	SkipReadVerify bool
	// ProducerIDExpiration drops an idle idempotent producer's state this
	// long after its last batch (Kafka's producer.id.expiration.ms). 0
	// means DefaultProducerIDExpiration; negative never expires.
	ProducerIDExpiration time.Duration
	// CheckpointInterval is how often Maintain persists the recovery
	// point and high watermark when they changed. 0 means
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// MaintainInterval is how often Manager.Run calls Maintain on every
	// log. 0 means DefaultMaintainInterval.
	MaintainInterval time.Duration
	// MaxConcurrentFlushes bounds how many rolled segments of one Manager
	// (or one Log opened alone) are fsynced in the background at once, so
	// many partitions rolling together (segment.ms) do not start an fsync
	// each. 0 means DefaultMaxConcurrentFlushes.
	MaxConcurrentFlushes int
	// Registerer, when set, receives the engine's Prometheus metrics
	// (sluice_storage_*), including per-partition gauges for a Manager.
	Registerer prometheus.Registerer
	// Now is the clock for LogAppendTime, segment.ms and retention. nil
	// means time.Now.
	Now func() time.Time

	hooks *testHooks // tests only
}

// Engine-wide defaults.
const (
	DefaultMaxBatchBytes = 64 << 20
	DefaultMaxOpenFiles  = 1024

	DefaultMaxDecompressedBytes = 256 << 20

	DefaultProducerIDExpiration = 24 * time.Hour
	DefaultCheckpointInterval   = 5 * time.Second
	DefaultMaintainInterval     = time.Second
	DefaultMaxConcurrentFlushes = 4
)

func (o Options) withDefaults() Options {
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = defaultMaxOpenFiles()
	}
	if o.ProducerIDExpiration == 0 {
		o.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.MaintainInterval <= 0 {
		o.MaintainInterval = DefaultMaintainInterval
	}
	if o.MaxConcurrentFlushes <= 0 {
		o.MaxConcurrentFlushes = DefaultMaxConcurrentFlushes
	}
	if o.MaxDecompressedBytes <= 0 {
		o.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// defaultMaxOpenFiles is half the process's open-file limit, leaving the
// rest to network connections and everything else.
func defaultMaxOpenFiles() int {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return DefaultMaxOpenFiles
	}
	return int(min(max(r.Cur/2, 64), 1<<20))
}
