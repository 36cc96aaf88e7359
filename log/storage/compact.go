package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Log compaction (cleanup.policy=compact) keeps the newest record per key.
//
// The log splits into a clean prefix (below the cleaner point: compacted
// before), a dirty middle, and what may not be touched: the active
// segment, anything at or above the high watermark or the first open
// transaction, and segments younger than min.compaction.lag.ms. When the
// dirty share of the cleanable bytes reaches min.cleanable.dirty.ratio (or
// dirty data is older than max.compaction.lag.ms), the cleaner maps each
// key in the dirty middle to its newest offset, then rewrites every
// cleanable segment keeping a record only if no newer record with its key
// exists. Offsets never change: batches keep their base offset and offset
// span, records keep their offset deltas. Records of aborted transactions
// are dropped. A tombstone (null value) is kept for delete.retention.ms
// after the cleaner first sees it (the horizon is stored in the batch, as
// Kafka does since KIP-534), then removed.
//
// Crash safety: cleaned segments are written as "<base>.log.cleaned" (and
// index files), fsynced, and then a manifest "cleaner-swap" naming the
// segments they replace is written atomically. The manifest is the commit
// point: recovery finishes a swap whose manifest exists and deletes
// ".cleaned" files whose manifest does not.

const swapManifest = "cleaner-swap"

// compactMapBytes bounds the memory of the key map built per cleaning
// pass; a dirty section with more keys is cleaned over several passes.
const compactMapBytes = 64 << 20

func (l *Log) compact(ctx context.Context, now time.Time, cfg *Config) error {
	segs := l.segments()
	// Closed segments still being flushed in the background get their
	// index files written then; compaction must not swap files under it.
	if err := l.waitFlushesBelow(segs[len(segs)-1].base); err != nil {
		return err
	}
	if len(segs) < 2 {
		return nil
	}
	// The end of the cleanable range: a segment boundary below which
	// everything is closed, committed, stable and old enough.
	limit := min(l.hwm.Load(), l.leo.Load())
	if fu := l.firstUnstable.Load(); fu >= 0 && fu < limit {
		limit = fu
	}
	lagCutoff := now.Add(-cfg.MinCompactionLag).UnixMilli()
	end := 0 // segments [0, end) are cleanable
	for end < len(segs)-1 && segs[end+1].base <= limit && (cfg.MinCompactionLag <= 0 || segs[end].maxTs.Load() <= lagCutoff) {
		end++
	}
	if end == 0 {
		return nil
	}
	var clean, dirty int64
	firstDirty := -1
	for i := 0; i < end; i++ {
		if segs[i+1].base <= l.cleanerPoint {
			clean += segs[i].size.Load()
		} else {
			if firstDirty < 0 {
				firstDirty = i
			}
			dirty += segs[i].size.Load()
		}
	}
	if firstDirty < 0 || dirty == 0 {
		return nil
	}
	forced := cfg.MaxCompactionLag != Forever && segs[firstDirty].maxTs.Load() >= 0 &&
		now.UnixMilli()-segs[firstDirty].maxTs.Load() > cfg.MaxCompactionLag.Milliseconds()
	if !forced && float64(dirty)/float64(clean+dirty) < cfg.MinCleanableRatio {
		return nil
	}
	started := time.Now()
	keys, mapEnd, err := l.buildKeyMap(ctx, segs[firstDirty:end])
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return l.errf("compaction: %w", err)
	}
	end = firstDirty + mapEnd
	cleanedUpTo := segs[end].base
	aborted := l.abortedRanges()
	horizon := now.Add(cfg.DeleteRetention).UnixMilli()
	var before, after int64
	groups := groupSegments(segs[:end], cfg)
	for i, group := range groups {
		if err := ctx.Err(); err != nil {
			// Stopped between groups: what was swapped in is complete;
			// the cleaner point only covers fully cleaned groups.
			cleanedUpTo = group[0].base
			if i == 0 {
				return nil
			}
			break
		}
		b, a, err := l.cleanGroup(group, keys, aborted, now.UnixMilli(), horizon)
		if err != nil {
			return l.errf("compaction: %w", err)
		}
		before += b
		after += a
	}
	l.metrics.compactions.Inc()
	l.metrics.compactedBytes.Add(float64(max(before-after, 0)))
	l.wmu.Lock()
	l.cleanerPoint = max(l.cleanerPoint, cleanedUpTo)
	err = l.writeCheckpointLocked(false)
	l.wmu.Unlock()
	l.logger.Info("storage: compacted", "up_to_offset", cleanedUpTo, "keys", len(keys),
		"bytes_before", before, "bytes_after", after, "took", time.Since(started).Round(time.Millisecond))
	return err
}

// buildKeyMap maps every key in segs to its newest offset, stopping at a
// segment boundary once the map is over compactMapBytes. It returns how
// many segments were mapped (at least one).
func (l *Log) buildKeyMap(ctx context.Context, segs []*segment) (map[string]int64, int, error) {
	keys := map[string]int64{}
	var mem int
	aborted := l.abortedRanges()
	for i, seg := range segs {
		if i > 0 && mem > compactMapBytes {
			return keys, i, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		err := l.eachBatch(seg, func(pos int64, b []byte, h *header) error {
			if h.IsControl() {
				return nil
			}
			body, err := decompress(h.Codec(), b[batchHeaderSize:], l.opt.MaxDecompressedBytes)
			if err != nil {
				return fmt.Errorf("segment %s position %d: %w", seg.name(), pos, err)
			}
			return forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if r.Key == nil || aborted.contains(h, off) {
					return nil
				}
				if _, ok := keys[string(r.Key)]; !ok {
					mem += len(r.Key) + 64
				}
				keys[string(r.Key)] = off
				return nil
			})
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return keys, len(segs), nil
}

// eachBatch visits seg's batches, validating each.
func (l *Log) eachBatch(seg *segment, fn func(pos int64, b []byte, h *header) error) error {
	h, _, err := l.cache.acquire(seg)
	if err != nil {
		return err
	}
	defer l.cache.release(h)
	sc := newScanner(h.log, 0, seg.size.Load(), int(l.opt.MaxBatchBytes))
	for {
		pos, b, hd, err := sc.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s position %d: %w", seg.name(), pos, err)
		}
		if err := fn(pos, b, &hd); err != nil {
			return err
		}
	}
}

// abortedSet answers "is this transactional record aborted".
type abortedSet map[int64][]AbortedTransaction

func (l *Log) abortedRanges() abortedSet {
	l.stateMu.Lock()
	defer l.stateMu.Unlock()
	s := abortedSet{}
	for _, a := range l.producers.aborted {
		s[a.ProducerID] = append(s[a.ProducerID], a)
	}
	return s
}

func (s abortedSet) contains(h *header, off int64) bool {
	if !h.IsTransactional() || h.IsControl() {
		return false
	}
	for _, a := range s[h.ProducerID] {
		if off >= a.FirstOffset && off <= a.LastOffset {
			return true
		}
	}
	return false
}

// groupSegments splits segs into runs that fit in one output segment.
func groupSegments(segs []*segment, cfg *Config) [][]*segment {
	var groups [][]*segment
	for i := 0; i < len(segs); {
		j := i + 1
		size := segs[i].size.Load()
		for j < len(segs) {
			next := size + segs[j].size.Load()
			lastRel := int64(math.MaxUint32)
			if j+1 < len(segs) {
				lastRel = segs[j+1].base - 1 - segs[i].base
			}
			if next > min(cfg.SegmentBytes, math.MaxInt32) || lastRel >= math.MaxUint32 {
				break
			}
			size = next
			j++
		}
		groups = append(groups, segs[i:j])
		i = j
	}
	return groups
}

// cleanGroup rewrites a run of segments into one cleaned segment and swaps
// it in. It returns the bytes before and after.
func (l *Log) cleanGroup(group []*segment, keys map[string]int64, aborted abortedSet, nowMs, horizon int64) (int64, int64, error) {
	base := group[0].base
	out := newSegment(l.dir, base)
	out.w = &segWriter{next: base, lastTsIx: -1}
	var data []byte
	var before int64
	cfg := l.cfg.Load()
	for _, seg := range group {
		before += seg.size.Load()
		err := l.eachBatch(seg, func(pos int64, b []byte, h *header) error {
			nb, err := l.filterBatch(b, h, keys, aborted, nowMs, horizon)
			if err != nil {
				return fmt.Errorf("segment %s position %d: %w", seg.name(), pos, err)
			}
			if nb == nil {
				return nil
			}
			nh := parseHeader(nb)
			out.noteBatch(&nh, int64(len(data)), cfg.IndexIntervalBytes)
			data = append(data, nb...)
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	out.finishTimeIndex()
	// Write the cleaned files, then commit the swap with the manifest.
	files := map[string][]byte{extLog: data, extIndex: out.w.idx, extTimeIndex: out.w.tidx}
	for ext, b := range files {
		if err := writeFileSynced(out.path(ext)+extCleaned, b); err != nil {
			return 0, 0, err
		}
	}
	replaced := make([]int64, len(group))
	for i, s := range group {
		replaced[i] = s.base
	}
	if err := writeFileAtomic(filepath.Join(l.dir, swapManifest), encodeManifest(base, replaced), true); err != nil {
		return 0, 0, err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if err := l.applySwap(base, replaced); err != nil {
		return 0, 0, l.fail(err)
	}
	ns := &segment{dir: l.dir, base: base}
	ns.size.Store(int64(len(data)))
	ns.maxTs.Store(out.maxTs.Load())
	ns.maxTsOff.Store(out.maxTsOff.Load())
	segs := l.segments()
	list := make([]*segment, 0, len(segs))
	for i, s := range segs {
		if s == group[0] {
			list = append(list, ns)
			list = append(list, segs[i+len(group):]...)
			break
		}
		list = append(list, s)
	}
	l.segs.Store(&list)
	for _, s := range group {
		l.cache.drop(s)
	}
	return before, int64(len(data)), nil
}

// filterBatch returns the batch to keep in place of b: b itself when
// nothing changes, a rebuilt batch, or nil when nothing is left.
func (l *Log) filterBatch(b []byte, h *header, keys map[string]int64, aborted abortedSet, nowMs, horizon int64) ([]byte, error) {
	if h.IsControl() {
		return b, nil
	}
	body, err := decompress(h.Codec(), b[batchHeaderSize:], l.opt.MaxDecompressedBytes)
	if err != nil {
		return nil, err
	}
	hasHorizon := h.Attributes&attrHasDeleteHorizon != 0
	var kept []kmsg.Record
	var dropped, tombstones int
	err = forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
		off := h.BaseOffset + int64(r.OffsetDelta)
		drop := aborted.contains(h, off)
		if !drop && r.Key != nil {
			if newest, ok := keys[string(r.Key)]; ok && newest > off {
				drop = true
			}
		}
		if !drop && r.Value == nil {
			if hasHorizon && nowMs >= h.BaseTimestamp {
				drop = true // the tombstone's delete horizon has passed
			} else {
				tombstones++
			}
		}
		if drop {
			dropped++
			return nil
		}
		rc := *r
		kept = append(kept, rc)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(kept) == 0 {
		return nil, nil
	}
	needHorizon := tombstones > 0 && !hasHorizon
	if dropped == 0 && !needHorizon {
		return b, nil
	}
	// Rebuild: same base offset and offset span, same producer fields,
	// records re-encoded relative to the (possibly new) base timestamp.
	oldBase := h.BaseTimestamp
	newBase := oldBase
	attrs := h.Attributes
	if needHorizon {
		attrs |= attrHasDeleteHorizon
		newBase = horizon
	} else if !hasHorizon {
		newBase = oldBase + kept[0].TimestampDelta64
		for _, r := range kept {
			newBase = min(newBase, oldBase+r.TimestampDelta64)
		}
	}
	var recs []byte
	for _, r := range kept {
		r.TimestampDelta64 = oldBase + r.TimestampDelta64 - newBase
		recs = appendRecord(recs, r)
	}
	recs, err = compress(h.Codec(), recs)
	if err != nil {
		return nil, err
	}
	nb := kmsg.RecordBatch{
		FirstOffset: h.BaseOffset, PartitionLeaderEpoch: h.LeaderEpoch, Magic: 2, Attributes: attrs,
		LastOffsetDelta: h.LastOffsetDelta, FirstTimestamp: newBase, MaxTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, FirstSequence: h.BaseSequence,
		NumRecords: int32(len(kept)), Records: recs,
	}
	nb.Length = int32(minBatchLength + len(recs))
	out := nb.AppendTo(make([]byte, 0, batchHeaderSize+len(recs)))
	binary.BigEndian.PutUint32(out[offCRC:], crc32.Checksum(out[offAttributes:], crcTable))
	return out, nil
}

func writeFileSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

func encodeManifest(base int64, replaced []int64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "sluice-cleaner-swap 1\nbase %d\nreplaced", base)
	for _, r := range replaced {
		fmt.Fprintf(&b, " %d", r)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes()
}

func decodeManifest(data []byte) (int64, []int64, error) {
	i := bytes.LastIndex(data, []byte("crc32c "))
	if i < 0 {
		return 0, nil, errors.New("no crc32c line")
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(data[i+7:])), 16, 32)
	if err != nil || uint32(want) != crc32.Checksum(data[:i], crcTable) {
		return 0, nil, errors.New("crc32c mismatch")
	}
	lines := strings.Split(strings.TrimSpace(string(data[:i])), "\n")
	if len(lines) != 3 || lines[0] != "sluice-cleaner-swap 1" || !strings.HasPrefix(lines[1], "base ") || !strings.HasPrefix(lines[2], "replaced") {
		return 0, nil, errors.New("malformed")
	}
	base, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "base "), 10, 64)
	if err != nil {
		return 0, nil, err
	}
	var replaced []int64
	for _, f := range strings.Fields(strings.TrimPrefix(lines[2], "replaced")) {
		r, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, nil, err
		}
		replaced = append(replaced, r)
	}
	return base, replaced, nil
}

// applySwap moves cleaned files into place and removes the replaced
// segments, then deletes the manifest. It is idempotent, so recovery can
// rerun it after a crash at any step.
func (l *Log) applySwap(base int64, replaced []int64) error {
	for _, r := range replaced {
		if r == base {
			continue
		}
		for _, ext := range []string{extLog, extIndex, extTimeIndex} {
			if err := os.Remove(filepath.Join(l.dir, segmentName(r)+ext)); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("compaction swap: %w", err)
			}
		}
	}
	// The .log goes last so that a present .log.cleaned means the swap of
	// this segment has not finished.
	for _, ext := range []string{extIndex, extTimeIndex, extLog} {
		p := filepath.Join(l.dir, segmentName(base)+ext)
		if err := os.Rename(p+extCleaned, p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("compaction swap: %w", err)
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(l.dir, swapManifest)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return syncDir(l.dir)
}

// finishSwaps completes a compaction swap interrupted by a crash (its
// manifest exists) before recovery looks at the segments.
func (l *Log) finishSwaps() error {
	p := filepath.Join(l.dir, swapManifest)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	base, replaced, err := decodeManifest(data)
	if err != nil {
		// Written atomically, so this is damage, not a torn write: the
		// old segments are intact only if the swap had not started.
		l.logger.Error("storage: damaged compaction manifest; discarding the cleaned output", "err", err)
		return os.Remove(p)
	}
	l.logger.Info("storage: finishing an interrupted compaction swap", "base", base, "replaced", len(replaced))
	return l.applySwap(base, replaced)
}
