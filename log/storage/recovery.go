package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// recover loads the partition directory into l. See Open.
func (l *Log) recover() error {
	if err := l.finishSwaps(); err != nil {
		return err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var bases, snaps []int64
	present := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		present[name] = true
		switch {
		case strings.HasSuffix(name, extTmp), strings.HasSuffix(name, extCleaned):
			// An atomic write or a compaction that did not complete.
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
		default:
			if b, ok := parseSegmentName(name, extLog); ok {
				bases = append(bases, b)
			} else if o, ok := parseSegmentName(name, extSnapshot); ok {
				snaps = append(snaps, o)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	// Index files whose segment is gone (a crash during deletion).
	for name := range present {
		for _, ext := range []string{extIndex, extTimeIndex} {
			if b, ok := parseSegmentName(name, ext); ok && !present[segmentName(b)+extLog] {
				os.Remove(filepath.Join(l.dir, name))
			}
		}
	}

	ck, haveCk := l.readCheckpoint()
	l.loadEpochs()

	// Segments wholly below the segment holding the recovery point were
	// fsynced and validated before; only their indexes are checked. The
	// rest is re-validated batch by batch.
	firstScan := 0
	if haveCk {
		for i, b := range bases {
			if b <= ck.RecoveryPoint {
				firstScan = i
			}
		}
	}
	var segs []*segment
	expect := int64(-1) // the next offset a batch may have
	for i, base := range bases {
		next := int64(-1)
		if i+1 < len(bases) {
			next = bases[i+1]
		}
		seg := newSegment(l.dir, base)
		var cut *cutPoint
		if i < firstScan {
			cut, err = l.loadTrusted(seg, next)
		} else if i == len(bases)-1 && haveCk && ck.Clean && ck.CleanActiveBase == base && l.loadCleanActive(seg, ck.CleanActiveSize) {
			// Closed cleanly: indexes and size are as Close left them.
		} else {
			cut, err = l.scanSegment(seg, expect, next)
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", seg.name(), err)
		}
		segs = append(segs, seg)
		if cut != nil {
			if err := l.cutTail(seg, cut, bases[i+1:]); err != nil {
				return err
			}
			break
		}
		if seg.w != nil {
			expect = seg.w.next
		}
		if i < len(bases)-1 && seg.w != nil {
			// A closed segment that was scanned: persist its indexes.
			seg.finishTimeIndex()
			if err := seg.writeIndexes(); err != nil {
				return err
			}
			seg.w = nil
			seg.idx.Store(nil)
			seg.tidx.Store(nil)
		}
	}
	if len(segs) == 0 {
		start := int64(0)
		if haveCk {
			start = ck.LogStartOffset
		}
		seg := newSegment(l.dir, start)
		seg.w = &segWriter{next: start, lastTsIx: -1}
		segs = append(segs, seg)
	}
	act := segs[len(segs)-1]
	if act.w == nil {
		// Cannot happen: the last segment is always scanned.
		return fmt.Errorf("internal error: active segment %s not scanned", act.name())
	}
	f, err := os.OpenFile(act.path(extLog), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	act.w.f = f
	l.startRollClockFromFile(act, f, l.cfg.Load())
	l.cache.pin(act, &handle{log: f})
	l.segs.Store(&segs)

	leo := act.w.next
	l.leo.Store(leo)
	logStart := segs[0].base
	if haveCk && ck.LogStartOffset > logStart {
		logStart = min(ck.LogStartOffset, leo)
	}
	l.logStart.Store(logStart)
	hw := logStart
	if haveCk {
		hw = min(max(ck.HighWatermark, logStart), leo)
	}
	l.hwm.Store(hw)
	l.cleanerPoint = min(max(ck.CleanerPoint, logStart), act.base)

	l.stateMu.Lock()
	changedEnd := l.epochs.truncateFromEnd(leo)
	changedStart := l.epochs.truncateFromStart(logStart)
	l.stateMu.Unlock()
	if changedEnd || changedStart || l.epochsDirty {
		if err := l.persistEpochsLocked(); err != nil {
			return err
		}
		l.epochsDirty = false
	}
	if err := l.rebuildProducerState(snaps); err != nil {
		return err
	}
	// Whatever recovery read may still sit only in the page cache (the
	// process died, the machine did not): make it durable before trusting it.
	if err := fdatasync(f); err != nil {
		return fmt.Errorf("fsync %s: %w", act.name(), err)
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	l.syncedTo = leo
	l.dirSynced.Store(act.base)
	return l.writeCheckpointLocked(true)
}

func (l *Log) readCheckpoint() (checkpoint, bool) {
	data, err := os.ReadFile(filepath.Join(l.dir, checkpointFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("storage: cannot read checkpoint; recovering from the first segment", "err", err)
		}
		return checkpoint{}, false
	}
	ck, err := decodeCheckpoint(data)
	if err != nil {
		l.logger.Warn("storage: checkpoint is damaged; recovering from the first segment", "file", checkpointFile, "err", err)
		return checkpoint{}, false
	}
	return ck, true
}

func (l *Log) loadEpochs() {
	data, err := os.ReadFile(filepath.Join(l.dir, epochFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.logger.Warn("storage: cannot read leader-epoch checkpoint", "err", err)
		}
		return
	}
	es, err := decodeEpochs(data)
	if err != nil {
		l.logger.Warn("storage: leader-epoch checkpoint is damaged; rebuilding from scanned batches", "err", err)
		l.epochsDirty = true
		return
	}
	l.epochs.entries = es
}

// cutPoint is where recovery found the first invalid batch.
type cutPoint struct {
	pos    int64
	reason error
}

// loadTrusted opens a segment below the recovery point from its index
// files, scanning it only if they fail their sanity checks.
func (l *Log) loadTrusted(seg *segment, next int64) (*cutPoint, error) {
	st, err := os.Stat(seg.path(extLog))
	if err != nil {
		return nil, err
	}
	size := st.Size()
	idx, ierr := os.ReadFile(seg.path(extIndex))
	tidx, terr := os.ReadFile(seg.path(extTimeIndex))
	if ierr == nil && terr == nil && checkOffsetIndex(idx, size) && checkTimeIndex(tidx) && (size == 0 || len(tidx) > 0) {
		seg.size.Store(size)
		if ts, rel, ok := lastTimeEntry(tidx); ok {
			seg.maxTs.Store(ts)
			seg.maxTsOff.Store(seg.base + int64(rel))
		}
		return nil, nil
	}
	l.logger.Info("storage: rebuilding segment indexes", "segment", seg.name())
	return l.scanSegment(seg, -1, next)
}

// loadCleanActive loads the active segment left by a clean Close from its
// index files, without reading its batches, if the file still has the
// size Close recorded and the indexes pass their checks. It reports
// whether it did.
func (l *Log) loadCleanActive(seg *segment, size int64) bool {
	st, err := os.Stat(seg.path(extLog))
	if err != nil || st.Size() != size {
		return false
	}
	idx, ierr := os.ReadFile(seg.path(extIndex))
	tidx, terr := os.ReadFile(seg.path(extTimeIndex))
	if ierr != nil || terr != nil || !checkOffsetIndex(idx, size) || !checkTimeIndex(tidx) || (size > 0 && len(tidx) == 0) {
		return false
	}
	w := &segWriter{next: seg.base, idx: idx, tidx: tidx, lastTsIx: -1}
	// Walk the headers after the last index entry to find the end.
	start := int64(0)
	if n := len(idx); n > 0 {
		start = int64(binary.BigEndian.Uint32(idx[n-4:]))
	}
	f, err := os.Open(seg.path(extLog))
	if err != nil {
		return false
	}
	defer f.Close()
	err = forEachHeader(f, start, size, func(pos int64, h *header) error {
		w.next = h.LastOffset() + 1
		return nil
	})
	w.sinceIdx = int(size - start)
	if err != nil {
		return false
	}
	if ts, rel, ok := lastTimeEntry(tidx); ok {
		seg.maxTs.Store(ts)
		seg.maxTsOff.Store(seg.base + int64(rel))
		w.lastTsIx = ts
	}
	seg.w = w
	seg.size.Store(size)
	i, t := idx, tidx
	seg.idx.Store(&i)
	seg.tidx.Store(&t)
	return true
}

// scanSegment validates every batch of seg, building its in-memory
// indexes and writer state. It returns the first invalid point, if any.
// expect is the lowest offset the first batch may have (-1: the segment
// base); next is the following segment's base (-1: none).
func (l *Log) scanSegment(seg *segment, expect, next int64) (*cutPoint, error) {
	f, err := os.Open(seg.path(extLog))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	cfg := l.cfg.Load()
	seg.w = &segWriter{next: seg.base, lastTsIx: -1}
	if expect < seg.base {
		expect = seg.base
	}
	sc := newScanner(f, 0, st.Size(), int(l.opt.MaxBatchBytes))
	var epochsChanged bool
	for {
		pos, _, h, err := sc.next()
		if err == io.EOF {
			break
		}
		if err == nil && h.BaseOffset < expect {
			err = corrupt("batch base offset %d below the expected %d", h.BaseOffset, expect)
		}
		if err == nil && next >= 0 && h.LastOffset() >= next {
			err = corrupt("batch last offset %d reaches the next segment's base %d", h.LastOffset(), next)
		}
		if err == nil && h.LastOffset()-seg.base > 1<<32-1 {
			err = corrupt("batch offset %d too far from the segment base", h.LastOffset())
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) {
				return nil, err // an I/O error: do not cut anything
			}
			seg.size.Store(pos)
			return &cutPoint{pos: pos, reason: err}, nil
		}
		seg.noteBatch(&h, pos, cfg.IndexIntervalBytes)
		expect = h.LastOffset() + 1
		seg.size.Store(pos + int64(h.Size()))
		l.stateMu.Lock()
		if l.epochs.assign(h.LeaderEpoch, h.BaseOffset) {
			epochsChanged = true
		}
		l.stateMu.Unlock()
	}
	if epochsChanged {
		l.epochsDirty = true
	}
	return nil, nil
}

// cutTail truncates seg at cut and deletes the segments after it,
// logging exactly what is removed.
func (l *Log) cutTail(seg *segment, cut *cutPoint, later []int64) error {
	st, err := os.Stat(seg.path(extLog))
	if err != nil {
		return err
	}
	cutBytes := st.Size() - cut.pos
	var removed []string
	for _, b := range later {
		name := segmentName(b)
		if st, err := os.Stat(filepath.Join(l.dir, name+extLog)); err == nil {
			cutBytes += st.Size()
		}
		for _, ext := range []string{extLog, extIndex, extTimeIndex} {
			if err := os.Remove(filepath.Join(l.dir, name+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		removed = append(removed, name+extLog)
	}
	next := seg.base
	if seg.w != nil {
		next = seg.w.next
	}
	l.metrics.recoveryCut.Add(float64(cutBytes))
	l.logger.Warn("storage: recovery truncated an invalid tail",
		"segment", seg.name(), "position", cut.pos, "reason", cut.reason.Error(),
		"first_lost_offset", next, "bytes_removed", cutBytes, "segments_removed", removed)
	f, err := os.OpenFile(seg.path(extLog), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(cut.pos)
	if err == nil {
		err = fdatasync(f)
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("truncate %s: %w", seg.name(), err)
	}
	if seg.w == nil {
		// A trusted segment whose bytes failed validation was rescanned
		// and so has writer state; this is unreachable otherwise.
		return fmt.Errorf("internal error: cut in unscanned segment %s", seg.name())
	}
	os.Remove(seg.path(extIndex))
	os.Remove(seg.path(extTimeIndex))
	return syncDir(l.dir)
}

// rebuildProducerState loads the newest usable producer snapshot and
// replays batch headers after it.
func (l *Log) rebuildProducerState(snaps []int64) error {
	leo := l.leo.Load()
	sort.Slice(snaps, func(i, j int) bool { return snaps[i] > snaps[j] })
	var ps *producerState
	segs := l.segments()
	from := segs[0].base
	for _, off := range snaps {
		path := filepath.Join(l.dir, segmentName(off)+extSnapshot)
		if off > leo || ps != nil {
			if off > leo {
				os.Remove(path)
			}
			continue
		}
		data, err := os.ReadFile(path)
		if err == nil {
			var got int64
			ps, got, err = decodeSnapshot(data)
			if err == nil && got != off {
				ps, err = nil, fmt.Errorf("snapshot says offset %d", got)
			}
		}
		if err != nil {
			l.logger.Warn("storage: ignoring damaged producer snapshot", "file", filepath.Base(path), "err", err)
			os.Remove(path)
			continue
		}
		from = off
	}
	if ps == nil {
		ps = newProducerState()
	}
	for i, seg := range segs {
		if i+1 < len(segs) && segs[i+1].base <= from {
			continue
		}
		h, _, err := l.cache.acquire(seg)
		if err != nil {
			return err
		}
		err = forEachHeader(h.log, 0, seg.size.Load(), func(pos int64, hd *header) error {
			if hd.BaseOffset < from {
				return nil
			}
			var m controlMarker
			if hd.IsControl() {
				b := make([]byte, hd.Size())
				if _, err := h.log.ReadAt(b, pos); err != nil {
					return err
				}
				m, _ = parseControlMarker(b, hd)
			}
			ps.update(hd, m)
			return nil
		})
		l.cache.release(h)
		if err != nil {
			return fmt.Errorf("segment %s: rebuilding producer state: %w", seg.name(), err)
		}
	}
	ps.truncateFromStart(l.logStart.Load())
	l.stateMu.Lock()
	l.producers = ps
	l.stateMu.Unlock()
	l.firstUnstable.Store(ps.firstUnstableOffset())
	return nil
}
