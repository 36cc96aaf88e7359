package storage

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForTimestamp returns the offset and timestamp of the first record
// whose timestamp is >= ts (ListOffsets), or ErrNoOffsetForTimestamp.
// Segments are chosen by their largest timestamp, the time index narrows
// the scan, and only the one batch that holds the answer is decoded.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	if l.closed.Load() {
		return -1, -1, l.errf("%w", ErrClosed)
	}
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	for attempt := 0; ; attempt++ {
		offset, timestamp, err = l.offsetForTimestamp(ts)
		if errors.Is(err, errSegmentGone) && attempt < 10 {
			continue
		}
		return offset, timestamp, err
	}
}

func (l *Log) offsetForTimestamp(ts int64) (int64, int64, error) {
	start := l.logStart.Load()
	for _, seg := range l.segments() {
		if seg.maxTs.Load() < ts {
			continue
		}
		off, t, found, err := l.searchSegment(seg, ts, start)
		if err != nil {
			return -1, -1, err
		}
		if found {
			return off, t, nil
		}
	}
	return -1, -1, l.errf("timestamp %d: %w", ts, ErrNoOffsetForTimestamp)
}

func (l *Log) searchSegment(seg *segment, ts, logStart int64) (int64, int64, bool, error) {
	h, mem, err := l.cache.acquire(seg)
	if err != nil {
		return 0, 0, false, err
	}
	defer l.cache.release(h)
	size := seg.size.Load()
	// Time index: start at the last entry below ts.
	startOffset := seg.base
	var rel int64 = -1
	if p := seg.tidx.Load(); p != nil {
		rel = lookupTime(memIndex(*p), len(*p)/timeEntrySize, ts)
	} else if f, err := os.Open(seg.path(extTimeIndex)); err == nil {
		if st, err := f.Stat(); err == nil {
			rel = lookupTime(f, int(st.Size()/timeEntrySize), ts)
		}
		f.Close()
	}
	if rel >= 0 {
		startOffset = seg.base + rel
	}
	startOffset = max(startOffset, logStart)
	pos, _, err := findBatch(h, mem, seg, startOffset, size)
	if err != nil || pos < 0 {
		return 0, 0, false, err
	}
	var found bool
	var resOff, resTs int64
	err = forEachHeader(h.log, pos, size, func(p int64, hd *header) error {
		if hd.MaxTimestamp < ts || hd.LastOffset() < logStart || hd.IsControl() {
			return nil
		}
		b := make([]byte, hd.Size())
		if _, err := h.log.ReadAt(b, p); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := validateBatch(b, len(b), false); err != nil {
			return fmt.Errorf("segment %s position %d: %w", seg.name(), p, err)
		}
		if hd.IsLogAppendTime() {
			// Every record carries the batch's append time.
			resTs = hd.MaxTimestamp
			resOff = max(hd.BaseOffset, logStart)
			found = true
			return errStop
		}
		body, err := decompress(hd.Codec(), b[batchHeaderSize:], l.opt.MaxDecompressedBytes)
		if err != nil {
			return fmt.Errorf("segment %s position %d: %w", seg.name(), p, err)
		}
		err = forEachRecord(body, hd.RecordCount, func(r *kmsg.Record) error {
			rts := hd.BaseTimestamp + r.TimestampDelta64
			off := hd.BaseOffset + int64(r.OffsetDelta)
			if rts >= ts && off >= logStart {
				resOff, resTs, found = off, rts, true
				return errStop
			}
			return nil
		})
		if err == errStop {
			return errStop
		}
		if err != nil {
			return fmt.Errorf("segment %s position %d: %w", seg.name(), p, err)
		}
		return nil
	})
	if err != nil && err != errStop {
		return 0, 0, false, err
	}
	return resOff, resTs, found, nil
}

var errStop = errors.New("stop")
