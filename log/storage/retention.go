package storage

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Maintain runs time-driven work for the log: roll by segment.ms, fsync by
// flush.ms, retention by retention.ms and retention.bytes, producer-id
// expiration, the checkpoint, and compaction when due. Manager.Run does
// this for every log (compaction on its own goroutine); standalone users
// call it themselves.
func (l *Log) Maintain(now time.Time) error {
	if err := l.maintainFast(now, true); err != nil {
		return err
	}
	return l.maintainCompaction(context.Background(), now)
}

// maintainFast does everything but compaction. With wait false it skips
// retention instead of waiting while compaction holds the log.
func (l *Log) maintainFast(now time.Time, wait bool) error {
	cfg := l.cfg.Load()
	if err := l.maintainWriter(now, cfg); err != nil {
		return err
	}
	if cfg.CleanupDelete {
		locked := true
		if wait {
			l.maintMu.Lock()
		} else {
			locked = l.maintMu.TryLock()
		}
		if locked {
			var err error
			if !l.closed.Load() {
				_, err = l.applyRetention(now, cfg, wait)
			}
			l.maintMu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	l.wmu.Lock()
	if err := l.writable(); err != nil {
		l.wmu.Unlock()
		return err
	}
	if l.opt.ProducerIDExpiration > 0 {
		l.stateMu.Lock()
		l.producers.expire(now.Add(-l.opt.ProducerIDExpiration).UnixMilli())
		l.stateMu.Unlock()
	}
	if !l.ckpt.due(now, l.opt.CheckpointInterval) {
		l.wmu.Unlock()
		return nil
	}
	// Snapshot under the writer's lock, write (and fsync) after releasing
	// it: appends go on while the file is written.
	c, seq := l.snapshotCheckpointLocked()
	l.wmu.Unlock()
	return l.ckpt.write(l, c, seq, false)
}

// maintainCompaction compacts the log if its policy asks for it and it is
// due; ctx stops a long pass between segments.
func (l *Log) maintainCompaction(ctx context.Context, now time.Time) error {
	cfg := l.cfg.Load()
	if !cfg.CleanupCompact {
		return nil
	}
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if l.closed.Load() {
		return nil
	}
	return l.compact(ctx, now, cfg)
}

// maintainWriter handles segment.ms and flush.ms.
func (l *Log) maintainWriter(now time.Time, cfg *Config) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	seg := l.active()
	if seg.size.Load() > 0 && seg.w.roll.due(now.UnixMilli(), -1, cfg.SegmentMs) {
		if err := l.roll(seg.w.next, now); err != nil {
			return err
		}
	}
	if l.unflushed > 0 && cfg.FlushInterval != Forever && now.Sub(l.firstUnflushed) >= cfg.FlushInterval {
		if err := l.flushLocked(); err != nil {
			return err
		}
	}
	return nil
}

// applyRetention deletes whole closed segments that retention.ms or
// retention.bytes no longer keeps, oldest first, and advances the log start
// offset. The active segment is rolled first when it alone is past
// retention.ms. A segment whose background flush is not done is left for
// the next pass, unless wait, which waits for the flush (outside the
// writer's lock). It returns the number of segments deleted.
func (l *Log) applyRetention(now time.Time, cfg *Config, wait bool) (int, error) {
	segs := l.segments()
	nowMs := now.UnixMilli()
	expired := func(s *segment) bool {
		if cfg.RetentionMs < 0 || s.size.Load() == 0 {
			return false
		}
		return nowMs-s.retentionTimestamp() > cfg.RetentionMs.Milliseconds()
	}
	if act := segs[len(segs)-1]; act.size.Load() > 0 && expired(act) {
		l.wmu.Lock()
		var err error
		if l.active() == act {
			err = l.roll(act.w.next, now)
		}
		l.wmu.Unlock()
		if err != nil {
			return 0, err
		}
		segs = l.segments()
	}
	total := int64(0)
	for _, s := range segs {
		total += s.size.Load()
	}
	n := 0
	for ; n < len(segs)-1; n++ {
		s := segs[n]
		byTime := expired(s)
		bySize := cfg.RetentionBytes >= 0 && total-s.size.Load() >= cfg.RetentionBytes
		// A segment wholly below the log start (DeleteRecords) goes too.
		byStart := segs[n+1].base <= l.logStart.Load()
		if !byTime && !bySize && !byStart {
			break
		}
		if segs[n+1].base > l.hwm.Load() {
			break // never delete what consumers have not been allowed to read
		}
		total -= s.size.Load()
	}
	if n == 0 {
		return 0, nil
	}
	if wait {
		if err := l.waitFlushesBelow(segs[n].base); err != nil {
			return 0, err
		}
	} else if p := l.firstPendingFlush(); p >= 0 {
		for n > 0 && segs[n-1].base >= p {
			n--
		}
		if n == 0 {
			return 0, nil
		}
	}
	return n, l.deleteOldest(n, "retention")
}

// deleteOldest removes the first n segments and moves the log start to the
// next segment's base. Caller holds maintMu. Segments still being flushed
// in the background are waited for (callers usually have already).
func (l *Log) deleteOldest(n int, why string) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	segs := l.segments()
	if n >= len(segs) {
		n = len(segs) - 1
	}
	if n <= 0 {
		return nil
	}
	if err := l.waitFlushesBelow(segs[n].base); err != nil {
		return l.fail(err)
	}
	newStart := max(segs[n].base, l.logStart.Load())
	// Move the start first and persist it, so a crash after deleting some
	// files never exposes a log that starts in a hole.
	l.advanceLogStartLocked(newStart)
	if err := l.writeCheckpointLocked(false); err != nil {
		return l.fail(err)
	}
	rest := append([]*segment(nil), segs[n:]...)
	l.segs.Store(&rest)
	var bytes int64
	for _, s := range segs[:n] {
		bytes += s.size.Load()
		l.cache.drop(s)
		for _, ext := range []string{extLog, extIndex, extTimeIndex} {
			if err := os.Remove(s.path(ext)); err != nil && !os.IsNotExist(err) {
				return l.fail(fmt.Errorf("delete %s: %w", s.name(), err))
			}
		}
	}
	l.metrics.segmentsDeleted.WithLabelValues(why).Add(float64(n))
	l.logger.Info("storage: deleted segments", "reason", why, "segments", n, "bytes", bytes, "log_start_offset", newStart)
	return nil
}

// advanceLogStartLocked moves the log start forward and trims the state
// that refers to offsets below it. Caller holds wmu.
func (l *Log) advanceLogStartLocked(start int64) {
	if start <= l.logStart.Load() {
		return
	}
	l.logStart.Store(start)
	if l.hwm.Load() < start {
		l.hwm.Store(start)
	}
	if l.cleanerPoint < start {
		l.cleanerPoint = start
	}
	l.stateMu.Lock()
	if l.epochs.truncateFromStart(start) {
		l.epochsDirty = true
	}
	l.producers.truncateFromStart(start)
	l.stateMu.Unlock()
	l.firstUnstable.Store(l.producers.firstUnstableOffset())
	if l.epochsDirty {
		if err := l.persistEpochsLocked(); err == nil {
			l.epochsDirty = false
		}
	}
}

// DeleteRecordsBefore moves the log start offset to offset (DeleteRecords):
// records below it are no longer readable, and whole segments below it are
// deleted. offset must be at most the high watermark. It returns the new
// log start offset. The new start is persisted before returning.
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error) {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.wmu.Lock()
	if err := l.writable(); err != nil {
		l.wmu.Unlock()
		return 0, err
	}
	if hw := l.hwm.Load(); offset > hw || offset < 0 {
		l.wmu.Unlock()
		return l.logStart.Load(), l.errf("delete records before %d: outside [0, high watermark %d]: %w", offset, hw, ErrOffsetOutOfRange)
	}
	l.advanceLogStartLocked(offset)
	err := l.writeCheckpointLocked(false)
	l.wmu.Unlock()
	if err != nil {
		return l.logStart.Load(), err
	}
	segs := l.segments()
	n := 0
	for n < len(segs)-1 && segs[n+1].base <= offset {
		n++
	}
	if n > 0 {
		if err := l.deleteOldest(n, "delete-records"); err != nil {
			return l.logStart.Load(), err
		}
	}
	return l.logStart.Load(), nil
}
