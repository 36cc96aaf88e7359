package storage

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Append validates and appends records: one or more concatenated
// RecordBatch v2 (a Produce request's records for one partition). Each
// batch's frame, magic, CRC, record count and size are checked without
// decoding its records; offsets are assigned by rewriting each batch's base
// offset and partition leader epoch in place (records is modified), and
// LogAppendTime topics get the broker time in maxTimestamp (with the CRC
// recomputed). Idempotent batches are checked against the producer's
// sequence: a retry of one of the last five batches returns Duplicate with
// the original offsets and writes nothing; a gap is ErrOutOfOrderSequence.
// With flush.messages reached (1 = every batch) the data is fsynced before
// Append returns. Nothing is readable until Append has written it whole.
func (l *Log) Append(records []byte, o AppendOptions) (info AppendInfo, err error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	defer func() {
		if err != nil {
			l.metrics.appendRejected.Inc()
		} else if info.Duplicate {
			l.metrics.duplicates.Inc()
		}
	}()
	if err := l.writable(); err != nil {
		return AppendInfo{}, err
	}
	cfg := l.cfg.Load()
	now := l.opt.Now()
	limit := int(l.opt.MaxBatchBytes)
	if cfg.MaxMessageBytes > 0 && int(cfg.MaxMessageBytes) < limit {
		limit = int(cfg.MaxMessageBytes)
	}
	hs := l.scratch[:0]
	var producers int
	for pos := 0; pos < len(records); {
		h, err := validateBatch(records[pos:], limit, true)
		if err != nil {
			return AppendInfo{}, l.errf("batch %d at byte %d: %w", len(hs), pos, err)
		}
		if h.IsControl() {
			if o.Origin == OriginClient {
				return AppendInfo{}, l.errf("batch %d: control batches may not be produced by clients: %w", len(hs), ErrInvalidRecord)
			}
			if _, err := parseControlMarker(records[pos:pos+h.Size()], &h); err != nil {
				return AppendInfo{}, l.errf("batch %d: %w", len(hs), err)
			}
			if !h.HasProducer() {
				return AppendInfo{}, l.errf("batch %d: control batch without a producer id: %w", len(hs), ErrInvalidRecord)
			}
		}
		if cfg.TimestampType == CreateTime && !h.IsControl() {
			if err := checkTimestamps(&h, cfg, now); err != nil {
				return AppendInfo{}, l.errf("batch %d: %w", len(hs), err)
			}
		}
		if cfg.CleanupCompact && !h.IsControl() {
			if err := checkCompactedBatch(records[pos:], &h, len(hs), l.opt.MaxDecompressedBytes); err != nil {
				return AppendInfo{}, l.errf("%w", err)
			}
		}
		if h.HasProducer() {
			producers++
		}
		hs = append(hs, h)
		pos += h.Size()
	}
	l.scratch = hs[:0]
	if len(hs) == 0 {
		return AppendInfo{}, l.errf("no record batches: %w", ErrInvalidRecord)
	}
	if producers > 0 && len(hs) > 1 {
		return AppendInfo{}, l.errf("%d batches in one append; idempotent and transactional batches must come one per append: %w", len(hs), ErrInvalidRecord)
	}
	if producers > 0 {
		l.stateMu.Lock()
		dup, err := l.producers.check(&hs[0])
		l.stateMu.Unlock()
		if err != nil {
			return AppendInfo{}, l.errf("%w", err)
		}
		if dup != nil {
			return AppendInfo{BaseOffset: dup.FirstOffset, LastOffset: dup.LastOffset, LogAppendTime: -1,
				Records: int(hs[0].RecordCount), Duplicate: true}, nil
		}
	}

	info = AppendInfo{BaseOffset: l.leo.Load(), LogAppendTime: -1}
	off := info.BaseOffset
	nowMs := now.UnixMilli()
	for i, pos := 0, 0; i < len(hs); i++ {
		h := &hs[i]
		b := records[pos : pos+h.Size()]
		setBaseOffset(b, off)
		setLeaderEpoch(b, o.LeaderEpoch)
		h.BaseOffset, h.LeaderEpoch = off, o.LeaderEpoch
		if cfg.TimestampType == LogAppendTime {
			setLogAppendTime(b, h, nowMs)
			info.LogAppendTime = nowMs
		}
		off += int64(h.LastOffsetDelta) + 1
		info.Records += int(h.RecordCount)
		pos += h.Size()
	}
	info.LastOffset = off - 1
	if err := l.writeBatches(records, hs, now, cfg); err != nil {
		return AppendInfo{}, err
	}
	return info, nil
}

func checkTimestamps(h *header, cfg *Config, now time.Time) error {
	nowMs := now.UnixMilli()
	if cfg.TimestampBeforeMax != Forever && cfg.TimestampBeforeMax >= 0 {
		if h.BaseTimestamp < nowMs-cfg.TimestampBeforeMax.Milliseconds() {
			return fmt.Errorf("timestamp %d is more than %v before the broker's time %d: %w", h.BaseTimestamp, cfg.TimestampBeforeMax, nowMs, ErrInvalidTimestamp)
		}
	}
	if cfg.TimestampAfterMax != Forever && cfg.TimestampAfterMax >= 0 {
		if h.MaxTimestamp > nowMs+cfg.TimestampAfterMax.Milliseconds() {
			return fmt.Errorf("timestamp %d is more than %v after the broker's time %d: %w", h.MaxTimestamp, cfg.TimestampAfterMax, nowMs, ErrInvalidTimestamp)
		}
	}
	return nil
}

// AppendReplicated appends batches fetched from the leader, keeping their
// offsets and leader epochs. Batches must be valid and start at or after
// the log end; the leader-epoch cache follows the batches' epochs
// (leaderEpoch is used for batches that carry none).
func (l *Log) AppendReplicated(records []byte, leaderEpoch int32) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	cfg := l.cfg.Load()
	hs := l.scratch[:0]
	next := l.leo.Load()
	for pos := 0; pos < len(records); {
		h, err := validateBatch(records[pos:], int(l.opt.MaxBatchBytes), false)
		if err != nil {
			return l.errf("replicated batch %d at byte %d: %w", len(hs), pos, err)
		}
		if h.BaseOffset < next {
			return l.errf("replicated batch %d: base offset %d below the log end %d: %w", len(hs), h.BaseOffset, next, ErrInvalidRecord)
		}
		if h.LeaderEpoch < 0 && leaderEpoch >= 0 {
			setLeaderEpoch(records[pos:], leaderEpoch)
			h.LeaderEpoch = leaderEpoch
		}
		next = h.LastOffset() + 1
		hs = append(hs, h)
		pos += h.Size()
	}
	l.scratch = hs[:0]
	if len(hs) == 0 {
		return nil
	}
	return l.writeBatches(records, hs, l.opt.Now(), cfg)
}

// writeBatches writes validated, offset-assigned batches to the active
// segment (rolling first if needed), then updates indexes, the epoch cache
// and producer state, fsyncs per the flush policy, and publishes the new
// end. Caller holds wmu.
func (l *Log) writeBatches(data []byte, hs []header, now time.Time, cfg *Config) error {
	if int64(len(data)) > math.MaxInt32 {
		return l.errf("append of %d bytes: %w", len(data), ErrBatchTooLarge)
	}
	first, last := hs[0].BaseOffset, hs[len(hs)-1].LastOffset()
	seg := l.active()
	if l.shouldRoll(seg, len(data), hs, first, last, now, cfg) {
		if err := l.roll(first, now); err != nil {
			return err
		}
		seg = l.active()
	}
	// Epochs first: if we crash after this but before the data, recovery
	// drops the entry again (it starts beyond the log end).
	epochChanged := false
	l.stateMu.Lock()
	for i := range hs {
		if l.epochs.assign(hs[i].LeaderEpoch, hs[i].BaseOffset) {
			epochChanged = true
		}
	}
	l.stateMu.Unlock()
	if epochChanged || l.epochsDirty {
		if err := l.persistEpochsLocked(); err != nil {
			return l.fail(err)
		}
		l.epochsDirty = false
	}

	w := seg.w
	pos := seg.size.Load()
	if _, err := w.f.WriteAt(data, pos); err != nil {
		// Undo a partial write so the file ends on a batch boundary.
		if terr := w.f.Truncate(pos); terr != nil {
			return l.fail(fmt.Errorf("write %s: %w (and undoing it failed: %v)", seg.name(), err, terr))
		}
		return l.errf("write %s: %w", seg.name(), err)
	}
	if !w.roll.set {
		w.roll.begin(appendMaxTimestamp(hs), now.UnixMilli(), cfg.SegmentMs, false)
	}
	var records int64
	p := pos
	for i := range hs {
		h := &hs[i]
		seg.noteBatch(h, p, cfg.IndexIntervalBytes)
		records += int64(h.RecordCount)
		p += int64(h.Size())
	}
	l.applyProducerState(data, hs)
	if l.unflushed == 0 {
		l.firstUnflushed = now
	}
	l.unflushed += max(records, 1)
	if l.unflushed >= cfg.FlushMessages {
		if err := l.flushLocked(); err != nil {
			return err
		}
	}
	seg.size.Store(p)
	l.leo.Store(w.next)
	l.metrics.appendBytes.Add(float64(len(data)))
	l.metrics.appendBatches.Add(float64(len(hs)))
	l.metrics.appendRecords.Add(float64(records))
	return nil
}

// applyProducerState updates producer state for written batches.
func (l *Log) applyProducerState(data []byte, hs []header) {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	changed := false
	pos := 0
	for i := range hs {
		h := &hs[i]
		if h.HasProducer() {
			var m controlMarker
			if h.IsControl() {
				m, _ = parseControlMarker(data[pos:pos+h.Size()], h)
			}
			l.producers.update(h, m)
			changed = changed || h.IsTransactional()
		}
		pos += h.Size()
	}
	if changed {
		l.firstUnstable.Store(l.producers.firstUnstableOffset())
	}
}

func (l *Log) shouldRoll(seg *segment, n int, hs []header, first, last int64, now time.Time, cfg *Config) bool {
	size := seg.size.Load()
	w := seg.w
	if last-seg.base > math.MaxUint32 || first < seg.base {
		return true
	}
	if size == 0 {
		return false
	}
	limit := min(cfg.SegmentBytes, math.MaxInt32)
	if size+int64(n) > limit {
		return true
	}
	if w.roll.due(now.UnixMilli(), appendMaxTimestamp(hs), cfg.SegmentMs) {
		return true
	}
	if cfg.SegmentIndexBytes > 0 && len(w.idx)+len(hs)*offsetEntrySize > cfg.SegmentIndexBytes {
		return true
	}
	return false
}

// roll closes the active segment and starts a new one at base. Under the
// writer's lock it only creates the new segment file and captures what
// the closed segment's flush needs (its final indexes, the producer
// state as of base); the fsync of the closed segment, its index files and
// the producer snapshot are written in the background (flush.go), and the
// recovery point passes the segment only once that is done. An empty
// active segment is replaced instead of kept. Caller holds wmu.
func (l *Log) roll(base int64, now time.Time) error {
	if err := l.waitFlushRoom(); err != nil {
		return l.fail(err)
	}
	old := l.active()
	segs := l.segments()
	if base < old.w.next {
		base = old.w.next
	}
	keepOld := old.size.Load() > 0
	seg := newSegment(l.dir, base)
	f, err := os.OpenFile(seg.path(extLog), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return l.errf("roll to %s: %w", seg.name(), err)
	}
	seg.w = &segWriter{f: f, next: base, lastTsIx: -1}
	var task *segmentFlush
	if keepOld {
		old.finishTimeIndex()
		old.flushing.Store(true) // before unpin: an eviction must keep its indexes in memory
		task = &segmentFlush{
			seg:        old,
			h:          l.cache.ref(old),
			from:       max(l.syncedTo, old.base),
			to:         base,
			dataSynced: l.syncedTo >= old.w.next && l.unflushed == 0,
			idx:        old.w.idx,
			tidx:       old.w.tidx,
			snapshot:   l.snapshotData(base),
		}
	} else {
		old.w.f = nil
		l.cache.drop(old)
		for _, ext := range []string{extLog, extIndex, extTimeIndex} {
			os.Remove(old.path(ext))
		}
		// Rare (an empty segment replaced, e.g. a follower's append
		// past a gap): sync the directory here.
		if err := syncDir(l.dir); err != nil {
			f.Close()
			return l.fail(err)
		}
		l.noteDirSynced(base)
	}
	l.cache.pin(seg, &handle{log: f})
	ns := make([]*segment, 0, len(segs)+1)
	if keepOld {
		ns = append(ns, segs...)
		old.w = nil
		l.cache.unpin(old)
	} else {
		ns = append(ns, segs[:len(segs)-1]...)
	}
	ns = append(ns, seg)
	l.segs.Store(&ns)
	if task != nil {
		l.enqueueFlush(task)
	}
	l.metrics.rolls.Inc()
	l.syncedTo = base // nothing of the new segment is unflushed
	l.unflushed = 0   // what was is the closed segment's, flushed in the background
	if l.leo.Load() < base {
		l.leo.Store(base)
	}
	return nil
}

// snapshotData encodes the producer state as of offset.
func (l *Log) snapshotData(offset int64) []byte {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	return l.producers.encodeSnapshot(offset)
}

// errf wraps an error with the partition's name.
func (l *Log) errf(format string, args ...any) error {
	return fmt.Errorf("partition %s: "+format, append([]any{filepath.Base(l.dir)}, args...)...)
}
