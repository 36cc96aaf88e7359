package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TruncateTo removes every record at or after offset (a follower
// discarding a divergent tail). If offset falls inside a batch the whole
// batch goes, so the new log end may be below offset. Truncating below the
// log start empties the log and restarts it at offset. The leader-epoch
// cache, producer state, high watermark and checkpoint follow. Readers in
// flight finish first; new readers wait.
func (l *Log) TruncateTo(offset int64) error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return l.errf("truncate to %d: %w", offset, ErrOffsetOutOfRange)
	}
	if offset >= l.leo.Load() {
		return nil
	}
	// Let rolled segments finish their flush before their files are
	// deleted or cut.
	if err := l.waitFlushes(); err != nil {
		return l.fail(err)
	}
	l.readMu.Lock()
	defer l.readMu.Unlock()
	if err := l.truncateLocked(offset); err != nil {
		return l.fail(l.errf("truncate to %d: %w", offset, err))
	}
	return nil
}

func (l *Log) truncateLocked(offset int64) error {
	segs := l.segments()
	start := l.logStart.Load()
	full := offset <= start
	keep := 0        // index of the segment that becomes active
	pos := int64(-1) // where it is cut; -1: nothing to cut in it
	if !full {
		for keep+1 < len(segs) && segs[keep+1].base <= offset {
			keep++
		}
		h, mem, err := l.cache.acquire(segs[keep])
		if err != nil {
			return err
		}
		var hd header
		pos, hd, err = findBatch(h, mem, segs[keep], offset, segs[keep].size.Load())
		l.cache.release(h)
		if err != nil {
			return err
		}
		if pos >= 0 && hd.BaseOffset < start {
			// The batch holding offset starts below the log start
			// (DeleteRecords moved it mid-batch): nothing readable remains.
			full = true
		}
	}
	if full {
		keep = -1
	}
	// Delete the segments after keep, newest first.
	for i := len(segs) - 1; i > keep; i-- {
		s := segs[i]
		if s.w != nil && s.w.f != nil {
			s.w.f = nil
		}
		l.cache.drop(s)
		for _, ext := range []string{extLog, extIndex, extTimeIndex} {
			if err := os.Remove(s.path(ext)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	var seg *segment
	if full {
		seg = newSegment(l.dir, offset)
		f, err := os.OpenFile(seg.path(extLog), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	} else {
		old := segs[keep]
		if old.w != nil {
			old.w.f = nil
		}
		l.cache.drop(old)
		if pos >= 0 {
			if err := os.Truncate(old.path(extLog), pos); err != nil {
				return err
			}
		}
		os.Remove(old.path(extIndex))
		os.Remove(old.path(extTimeIndex))
		seg = newSegment(l.dir, old.base)
	}
	// Rebuild the new active segment's writer state from its bytes.
	cut, err := l.scanSegment(seg, -1, -1)
	if err != nil {
		return err
	}
	if cut != nil {
		if err := l.cutTail(seg, cut, nil); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(seg.path(extLog), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		return err
	}
	seg.w.f = f
	l.startRollClockFromFile(seg, f, l.cfg.Load())
	l.cache.pin(seg, &handle{log: f})
	var ns []*segment
	if !full {
		ns = append(ns, segs[:keep]...)
	}
	ns = append(ns, seg)
	l.segs.Store(&ns)
	leo := seg.w.next
	l.leo.Store(leo)
	if full {
		l.logStart.Store(offset)
	}
	if l.hwm.Load() > leo || full {
		l.hwm.Store(min(max(l.hwm.Load(), l.logStart.Load()), leo))
	}
	l.syncedTo = leo // the active segment was fsynced above; earlier ones were flushed
	l.dirSynced.Store(seg.base)
	l.cleanerPoint = min(max(l.cleanerPoint, l.logStart.Load()), seg.base)
	l.unflushed = 0
	l.stateMu.Lock()
	l.epochs.truncateFromEnd(leo)
	if full {
		l.epochs.truncateFromStart(offset)
	}
	l.stateMu.Unlock()
	if err := l.persistEpochsLocked(); err != nil {
		return err
	}
	// Producer state: drop snapshots past the new end and rebuild.
	snaps, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	if full {
		for _, o := range snaps {
			os.Remove(filepath.Join(l.dir, segmentName(o)+extSnapshot))
		}
		snaps = nil
	}
	if err := l.rebuildProducerState(snaps); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := l.writeCheckpointLocked(true); err != nil {
		return err
	}
	l.logger.Info("storage: truncated log", "offset", offset, "log_end_offset", leo)
	return nil
}

func (l *Log) snapshotOffsets() ([]int64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	var offs []int64
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), extSnapshot) {
			if o, ok := parseSegmentName(e.Name(), extSnapshot); ok {
				offs = append(offs, o)
			}
		}
	}
	return offs, nil
}
