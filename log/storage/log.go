package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Log is one partition's log: an ordered sequence of record batches in
// segment files under one directory.
//
// Concurrency: one writer at a time (Append, AppendReplicated, roll, and
// the maintenance operations serialize on an internal mutex) and any number
// of readers. Readers never take the writer's lock: they work from an
// immutable snapshot of the segment list, read only bytes below a
// segment's published size, and hold a reference on the file they read.
// Only TruncateTo, which rewrites bytes in place, waits for readers in
// flight.
type Log struct {
	dir       string
	opt       Options
	logger    *slog.Logger
	cache     *fileCache
	ownsCache bool
	flushSem  chan struct{} // bounds background flushes running at once (shared by a Manager's logs)
	metrics   *metrics
	lock      *os.File // flock'd: one process per partition directory

	reservedFiles bool // partitionFiles are counted in the cache's budget
	cfg           atomic.Pointer[Config]

	maintMu sync.Mutex   // serializes retention, compaction, truncation, DeleteRecords; taken before wmu
	wmu     sync.Mutex   // the writer
	readMu  sync.RWMutex // readers share it; in-place truncation takes it exclusively

	segs          atomic.Pointer[[]*segment]
	leo           atomic.Int64
	hwm           atomic.Int64
	logStart      atomic.Int64
	firstUnstable atomic.Int64 // first offset of the oldest open transaction; -1 if none
	closed        atomic.Bool

	// stateMu guards epochs and producers, which readers consult
	// (EndOffsetForEpoch, AbortedTransactions); the writer also holds wmu.
	stateMu   sync.Mutex
	epochs    epochCache
	producers *producerState

	// Writer state, under wmu.
	failed         error // set when the files may no longer match memory; the log refuses writes
	syncedTo       int64 // the active segment is fsynced below this (see recoveryPointLocked)
	unflushed      int64 // records appended since the last fsync
	firstUnflushed time.Time
	cleanerPoint   int64  // offsets below were compacted
	ckptSeq        uint64 // numbers checkpoint snapshots in the order they were taken
	epochsDirty    bool   // the epoch file does not match memory
	scratch        []header

	// ckpt is the checkpoint file's writer. Maintenance writes the
	// periodic checkpoint without holding wmu (its fsyncs must not stall
	// appends); writes are ordered by snapshot sequence so an older
	// snapshot never replaces a newer one.
	ckpt checkpointWriter

	flusher   flusher      // rolled segments awaiting their background flush
	dirSynced atomic.Int64 // the newest segment base whose directory entry is known durable
}

// Open opens the partition log in dir, creating it if needed, and runs
// recovery: interrupted compactions are finished or discarded, every batch
// after the recovery point is re-validated and a torn or corrupt tail is
// truncated (and logged), indexes that fail their sanity check are rebuilt,
// and the leader-epoch cache and producer state are restored. Only one
// process may have a partition directory open.
func Open(dir string, cfg Config, opt Options) (*Log, error) {
	opt = opt.withDefaults()
	cache := newFileCache(opt.MaxOpenFiles)
	l, err := openLog(dir, cfg, opt, cache, newMetrics(opt.Registerer, cache), make(chan struct{}, opt.MaxConcurrentFlushes))
	if l != nil {
		l.ownsCache = true
	}
	return l, err
}

func openLog(dir string, cfg Config, opt Options, cache *fileCache, m *metrics, flushSem chan struct{}) (*Log, error) {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
		// Make the new directory's entry durable.
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, fmt.Errorf("open log %s: %w", dir, err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open log %s: directory is in use by another process: %w", dir, err)
	}
	l := &Log{
		dir:       dir,
		opt:       opt,
		logger:    opt.Logger.With("partition", filepath.Base(dir)),
		cache:     cache,
		flushSem:  flushSem,
		metrics:   m,
		lock:      lock,
		producers: newProducerState(),
	}
	l.flusher.init()
	c := cfg
	l.cfg.Store(&c)
	l.firstUnstable.Store(-1)
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.reservedFiles = true
	if cache.reserve(partitionFiles) {
		l.logger.Warn("storage: open partitions hold more file descriptors than MaxOpenFiles; closed segments now keep one cached handle and are reopened on reads",
			"max_open_files", opt.MaxOpenFiles)
	}
	return l, nil
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// Config returns the log's current configuration.
func (l *Log) Config() Config { return *l.cfg.Load() }

// SetConfig changes the topic configuration; it applies to later appends
// and maintenance.
func (l *Log) SetConfig(cfg Config) {
	c := cfg
	l.cfg.Store(&c)
}

func (l *Log) segments() []*segment { return *l.segs.Load() }

func (l *Log) active() *segment {
	s := l.segments()
	return s[len(s)-1]
}

// LogStartOffset is the first offset that can be read.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark is the offset below which records are committed (readable
// by consumers). The broker sets it; it is persisted in the checkpoint.
func (l *Log) HighWatermark() int64 { return l.hwm.Load() }

// SetHighWatermark sets the high watermark, clamped to [LogStartOffset,
// LogEndOffset]. It never blocks on the writer.
func (l *Log) SetHighWatermark(hw int64) {
	for {
		if ls := l.logStart.Load(); hw < ls {
			hw = ls
		}
		if leo := l.leo.Load(); hw > leo {
			hw = leo
		}
		old := l.hwm.Load()
		if old == hw || l.hwm.CompareAndSwap(old, hw) {
			return
		}
	}
}

// LastStableOffset is the offset below which no transaction is open,
// capped by the high watermark: read_committed consumers read below it.
func (l *Log) LastStableOffset() int64 {
	hw := l.hwm.Load()
	if fu := l.firstUnstable.Load(); fu >= 0 && fu < hw {
		return fu
	}
	return hw
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segments() {
		n += s.size.Load()
	}
	return n
}

// SegmentCount is the number of segment files (for metrics and tests).
func (l *Log) SegmentCount() int { return len(l.segments()) }

// MaxTimestamp is the largest batch timestamp in the log and the offset of
// the batch carrying it ((-1, -1) for an empty log), for ListOffsets with
// timestamp -3.
func (l *Log) MaxTimestamp() (offset, timestamp int64) {
	offset, timestamp = -1, -1
	for _, s := range l.segments() {
		if ts := s.maxTs.Load(); ts > timestamp {
			timestamp, offset = ts, s.maxTsOff.Load()
		}
	}
	return offset, timestamp
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch not
// above the requested one and the offset where the next epoch began (the
// log end for the current epoch); (-1, -1) if unknown.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// LatestEpoch is the newest leader epoch in the log, or -1.
func (l *Log) LatestEpoch() int32 {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	if e, ok := l.epochs.latest(); ok {
		return e.Epoch
	}
	return -1
}

// AbortedTransactions lists aborted transactions overlapping [from, to),
// for read_committed fetches (FetchResponse.AbortedTransactions).
func (l *Log) AbortedTransactions(from, to int64) []AbortedTransaction {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.producers.abortedIn(from, to)
}

// ProducerState is one producer id's state, for DescribeProducers.
type ProducerState struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32
	LastTimestamp    int64
	CoordinatorEpoch int32
	TxnStartOffset   int64 // -1 if no open transaction
}

// Producers lists the idempotent/transactional producers the log knows.
func (l *Log) Producers() []ProducerState {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	out := make([]ProducerState, 0, len(l.producers.m))
	for _, e := range l.producers.m {
		ls, ok := e.lastSeq()
		if !ok {
			ls = -1
		}
		out = append(out, ProducerState{e.ID, e.Epoch, ls, e.LastTimestamp, e.CoordinatorEpoch, e.TxnFirstOffset})
	}
	return out
}

// writable reports whether the writer may proceed. Caller holds wmu.
func (l *Log) writable() error {
	if l.closed.Load() {
		return fmt.Errorf("partition %s: %w", filepath.Base(l.dir), ErrClosed)
	}
	if l.failed == nil {
		l.failed = l.flushFailure() // logged by the flusher
	}
	if l.failed != nil {
		return fmt.Errorf("partition %s: refusing writes until reopened: %w", filepath.Base(l.dir), l.failed)
	}
	return nil
}

// fail marks the log unusable for writes after an I/O error that may have
// left the files out of step with memory (a failed fsync, a write that
// could not be undone). Reopening runs recovery.
func (l *Log) fail(err error) error {
	if errors.Is(err, ErrLogFailed) {
		return err
	}
	err = fmt.Errorf("%w: %w", ErrLogFailed, err)
	if l.failed == nil {
		l.failed = err
		l.logger.Error("storage: log failed; refusing writes until reopened", "err", err)
	}
	return err
}

// Flush fsyncs everything appended so far (waiting for the background
// flush of rolled segments) and writes the checkpoint.
func (l *Log) Flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if err := l.waitFlushes(); err != nil {
		return l.fail(err)
	}
	if err := l.flushLocked(); err != nil {
		return err
	}
	return l.writeCheckpointLocked(true)
}

// flushLocked fsyncs the active segment if anything is unflushed, and the
// directory if the segment's entry may not be durable yet. Rolled
// segments are flushed in the background (flush.go).
func (l *Log) flushLocked() error {
	seg := l.active()
	if l.syncedTo >= seg.w.next && l.unflushed == 0 {
		return nil
	}
	start := time.Now()
	if err := l.syncData(seg.w.f); err != nil {
		return l.fail(fmt.Errorf("fsync %s: %w", seg.name(), err))
	}
	l.metrics.observeFsync(start)
	if l.dirSynced.Load() < seg.base {
		// The segment was created by a roll whose background flush has
		// not synced the directory yet.
		if err := syncDir(l.dir); err != nil {
			return l.fail(err)
		}
		l.noteDirSynced(seg.base)
	}
	l.syncedTo = seg.w.next
	l.unflushed = 0
	return nil
}

func (l *Log) currentCheckpoint() checkpoint {
	return checkpoint{
		RecoveryPoint:  l.recoveryPointLocked(),
		HighWatermark:  l.hwm.Load(),
		LogStartOffset: l.logStart.Load(),
		CleanerPoint:   l.cleanerPoint,
	}
}

// writeCheckpointLocked persists the checkpoint if it changed (or always,
// when force). Caller holds wmu; the write is done before it returns.
func (l *Log) writeCheckpointLocked(force bool) error {
	c, seq := l.snapshotCheckpointLocked()
	return l.ckpt.write(l, c, seq, force)
}

// snapshotCheckpointLocked takes the current checkpoint and its place in
// the order of snapshots. Caller holds wmu.
func (l *Log) snapshotCheckpointLocked() (checkpoint, uint64) {
	l.ckptSeq++
	return l.currentCheckpoint(), l.ckptSeq
}

// persistEpochsLocked writes the leader-epoch cache. Caller holds wmu.
func (l *Log) persistEpochsLocked() error {
	l.stateMu.Lock()
	data := encodeEpochs(l.epochs.entries)
	l.stateMu.Unlock()
	return writeFileAtomic(filepath.Join(l.dir, epochFile), data, true)
}

// Close flushes the log, writes its indexes, producer snapshot and
// checkpoint, and closes its files. Reads and writes after Close return
// ErrClosed.
func (l *Log) Close() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Load() {
		return nil
	}
	var errs []error
	if err := l.waitFlushes(); err != nil && l.failed == nil {
		l.failed = err
	}
	l.flusher.wg.Wait()
	l.abandonFlushes()
	if l.failed == nil {
		seg := l.active()
		if err := l.flushLocked(); err != nil {
			errs = append(errs, err)
		} else {
			seg.finishTimeIndex()
			if err := seg.writeIndexes(); err != nil {
				errs = append(errs, err)
			}
			if err := l.writeSnapshot(seg.w.next, l.snapshotData(seg.w.next)); err != nil {
				errs = append(errs, err)
			}
			if len(errs) == 0 {
				if err := syncDir(l.dir); err != nil {
					errs = append(errs, err)
				}
			}
			ck := l.currentCheckpoint()
			if len(errs) == 0 {
				ck.Clean, ck.CleanActiveBase, ck.CleanActiveSize = true, seg.base, seg.size.Load()
			}
			l.ckptSeq++
			if err := l.ckpt.write(l, ck, l.ckptSeq, true); err != nil {
				errs = append(errs, err)
			}
		}
	}
	l.closed.Store(true)
	l.readMu.Lock() // wait for readers in flight
	l.closeFiles()
	l.readMu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close partition %s: %w", filepath.Base(l.dir), err)
	}
	return nil
}

// closeFiles releases every file the log holds.
func (l *Log) closeFiles() {
	if p := l.segs.Load(); p != nil {
		for _, s := range *p {
			l.cache.drop(s)
		}
	}
	if l.lock != nil {
		l.lock.Close()
		l.lock = nil
	}
	if l.reservedFiles {
		l.reservedFiles = false
		l.cache.reserve(-partitionFiles)
	}
}

// closeNoFlush closes the log without writing anything (the partition is
// being deleted).
func (l *Log) closeNoFlush() {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed.Swap(true) {
		return
	}
	l.waitFlushes()
	l.flusher.wg.Wait()
	l.abandonFlushes()
	l.readMu.Lock()
	l.closeFiles()
	l.readMu.Unlock()
}
