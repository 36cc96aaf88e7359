package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Background flush of rolled segments.
//
// Rolling used to fsync the finished segment and write its index files
// under the writer's lock: with a 1 GiB segment and the default flush
// policy (leave it to the OS), that one fsync stalled every producer of
// the partition for most of a second. As Kafka does, a roll now only
// opens the new active segment under the lock and queues the old one
// here; a goroutine owned by the Log fsyncs its data, writes its index
// files and the producer snapshot taken at the roll, fsyncs the
// directory, and only then lets the recovery point move past it.
//
// Until that is done the segment is not trusted by recovery (the recovery
// point stays at or below its start, so a crash re-validates it) and its
// indexes stay in memory. Operations that delete or replace segment
// files (retention, DeleteRecords, truncation, compaction, Close) first
// wait for the flushes of the segments they touch, so a late index write
// never lands on a file that is gone or was replaced.

// maxPendingFlushes bounds the rolled segments of one log waiting for
// their background flush. A roll beyond it waits for the oldest to
// finish: when the disk cannot keep up, producers slow down instead of
// the queue (and the descriptors and in-memory indexes it holds) growing.
const maxPendingFlushes = 8

// segmentFlush is the work a roll leaves behind for one segment.
type segmentFlush struct {
	seg        *segment
	h          *handle // a reference on the segment's open file; released when done
	from       int64   // offsets below were durable when the segment rolled
	to         int64   // the next segment's base: everything below is durable once done
	dataSynced bool    // nothing unflushed in the segment at the roll: skip its fsync
	idx, tidx  []byte  // the segment's final indexes
	snapshot   []byte  // producer state as of to
}

// flusher is a Log's queue of rolled segments awaiting their flush, and
// the state of the goroutine that works through it.
type flusher struct {
	mu      sync.Mutex
	cond    *sync.Cond      // on mu; broadcast when a flush completes or the goroutine stops
	queue   []*segmentFlush // oldest first
	running bool            // a goroutine is working on the queue
	err     error           // the first failure; the log refuses writes after it
	wg      sync.WaitGroup  // the goroutine, for Close
}

func (fl *flusher) init() { fl.cond = sync.NewCond(&fl.mu) }

// enqueueFlush queues a rolled segment's flush and starts the goroutine
// if it is not running. Caller holds wmu.
func (l *Log) enqueueFlush(t *segmentFlush) {
	fl := &l.flusher
	fl.mu.Lock()
	defer fl.mu.Unlock()
	t.seg.flushing.Store(true)
	fl.queue = append(fl.queue, t)
	if fl.running || fl.err != nil {
		return
	}
	fl.running = true
	fl.wg.Add(1)
	go l.runFlusher()
}

// runFlusher flushes queued segments in order until the queue is empty
// or a flush fails. It never takes the writer's lock, so the writer may
// wait for it while holding that lock.
func (l *Log) runFlusher() {
	fl := &l.flusher
	defer fl.wg.Done()
	for {
		fl.mu.Lock()
		if len(fl.queue) == 0 || fl.err != nil {
			fl.running = false
			fl.cond.Broadcast()
			fl.mu.Unlock()
			return
		}
		t := fl.queue[0]
		fl.mu.Unlock()

		l.flushSem <- struct{}{}
		start := time.Now()
		err := l.flushSegment(t)
		<-l.flushSem
		if err == nil {
			l.metrics.segmentFlush.Observe(time.Since(start).Seconds())
		}

		fl.mu.Lock()
		if err != nil {
			fl.err = fmt.Errorf("%w: background flush of %s: %w", ErrLogFailed, t.seg.name(), err)
			l.logger.Error("storage: log failed; refusing writes until reopened", "err", fl.err)
		} else {
			fl.queue[0] = nil
			fl.queue = fl.queue[1:]
			t.seg.flushing.Store(false)
			fl.cond.Broadcast()
		}
		fl.mu.Unlock()
		if err == nil {
			l.cache.release(t.h)
		}
	}
}

// flushSegment makes a rolled segment durable: its data, its index files,
// the producer snapshot at its end, and the directory entries of all of
// them and of the segment that followed it.
func (l *Log) flushSegment(t *segmentFlush) error {
	if hk := l.opt.hooks; hk != nil && hk.beforeSegmentFlush != nil {
		hk.beforeSegmentFlush(t.seg.base)
	}
	if !t.dataSynced {
		start := time.Now()
		if err := l.syncData(t.h.log); err != nil {
			return fmt.Errorf("fsync %s: %w", t.seg.name(), err)
		}
		l.metrics.observeFsync(start)
	}
	if err := writeFileAtomic(t.seg.path(extIndex), t.idx, false); err != nil {
		return err
	}
	if err := writeFileAtomic(t.seg.path(extTimeIndex), t.tidx, false); err != nil {
		return err
	}
	if err := l.writeSnapshot(t.to, t.snapshot); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	l.noteDirSynced(t.to)
	return nil
}

// waitFlushes waits until every queued flush is done, and returns the
// flusher's failure if it stopped on one. The writer may hold wmu: the
// flusher never takes it.
func (l *Log) waitFlushes() error {
	return l.waitFlushUntil(func(fl *flusher) bool { return len(fl.queue) == 0 })
}

// waitFlushesBelow waits until no segment with a base below offset is
// queued for flushing (they are queued in offset order).
func (l *Log) waitFlushesBelow(offset int64) error {
	return l.waitFlushUntil(func(fl *flusher) bool { return len(fl.queue) == 0 || fl.queue[0].seg.base >= offset })
}

// waitFlushRoom waits while maxPendingFlushes segments are queued.
func (l *Log) waitFlushRoom() error {
	return l.waitFlushUntil(func(fl *flusher) bool { return len(fl.queue) < maxPendingFlushes })
}

// waitFlushUntil waits for done (checked under the flusher's mutex) or a
// failure. Waits are bounded by the flusher's I/O: it runs whenever the
// queue is not empty and nothing failed.
func (l *Log) waitFlushUntil(done func(*flusher) bool) error {
	fl := &l.flusher
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for fl.err == nil && !done(fl) {
		fl.cond.Wait()
	}
	return fl.err
}

// abandonFlushes releases what a failed flusher left queued. Close calls
// it once the goroutine has stopped.
func (l *Log) abandonFlushes() {
	fl := &l.flusher
	fl.mu.Lock()
	q := fl.queue
	fl.queue = nil
	fl.mu.Unlock()
	for _, t := range q {
		l.cache.release(t.h)
	}
}

// firstPendingFlush is the base of the oldest segment still queued for
// flushing, or -1 if none.
func (l *Log) firstPendingFlush() int64 {
	fl := &l.flusher
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.queue) == 0 {
		return -1
	}
	return fl.queue[0].seg.base
}

// flushFailure is the flusher's failure, if any.
func (l *Log) flushFailure() error {
	fl := &l.flusher
	fl.mu.Lock()
	defer fl.mu.Unlock()
	return fl.err
}

// recoveryPointLocked is the offset below which everything is durable:
// the start of the oldest segment range still queued for flushing, or
// else what the writer has fsynced of the active segment. Caller holds
// wmu.
func (l *Log) recoveryPointLocked() int64 {
	fl := &l.flusher
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if len(fl.queue) > 0 {
		return fl.queue[0].from
	}
	return l.syncedTo
}

// noteDirSynced records that the directory was fsynced after the
// segment at base was created, so its entry is durable.
func (l *Log) noteDirSynced(base int64) {
	for {
		cur := l.dirSynced.Load()
		if base <= cur || l.dirSynced.CompareAndSwap(cur, base) {
			return
		}
	}
}

// syncData fdatasyncs a segment file (through the test hook, if set).
func (l *Log) syncData(f *os.File) error {
	if hk := l.opt.hooks; hk != nil && hk.fsync != nil {
		if err := hk.fsync(f); err != nil {
			return err
		}
	}
	return fdatasync(f)
}

// writeSnapshot writes a producer snapshot as of offset and prunes old
// snapshots, keeping the newest three. Snapshots are written by the
// flusher and, once it is idle, by the writer; never by both at once.
func (l *Log) writeSnapshot(offset int64, data []byte) error {
	if err := writeFileAtomic(filepath.Join(l.dir, segmentName(offset)+extSnapshot), data, false); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var offs []int64
	for _, e := range entries {
		if o, ok := parseSegmentName(e.Name(), extSnapshot); ok {
			offs = append(offs, o)
		}
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] > offs[j] })
	for i, o := range offs {
		if i >= 3 {
			os.Remove(filepath.Join(l.dir, segmentName(o)+extSnapshot))
		}
	}
	return nil
}

// testHooks are injection points for tests; nil outside them.
type testHooks struct {
	// beforeSegmentFlush runs on the flusher before it flushes the
	// rolled segment at base (a test may block it there).
	beforeSegmentFlush func(base int64)
	// fsync runs before every fdatasync of a segment's data; an error
	// stands for a failed fsync.
	fsync func(f *os.File) error
	// beforeCheckpoint runs before the checkpoint file is written (a test
	// may block it there).
	beforeCheckpoint func()
}
