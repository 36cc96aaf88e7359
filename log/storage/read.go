package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"sync"
)

// ReadResult is the answer to a Read.
type ReadResult struct {
	// Data holds whole batches, byte for byte as stored; empty when
	// nothing at or after the offset is below maxOffset yet.
	Data             []byte
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
}

// Read returns whole batches starting with the one that holds offset:
// at most maxBytes, except that the first batch is returned whole even if
// larger (KIP-74), and only batches whose last offset is below maxOffset
// (pass the high watermark for consumers, the last stable offset for
// read_committed, LogEndOffset for followers). The read comes from a single
// segment. Every batch's CRC is checked before it is served unless
// Options.SkipReadVerify is set; a corrupt batch is never returned.
// Offsets outside [LogStartOffset, LogEndOffset] are ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	if l.closed.Load() {
		return ReadResult{}, l.errf("%w", ErrClosed)
	}
	l.readMu.RLock()
	defer l.readMu.RUnlock()
	if l.closed.Load() {
		return ReadResult{}, l.errf("%w", ErrClosed)
	}
	for attempt := 0; ; attempt++ {
		res := ReadResult{
			HighWatermark:    l.hwm.Load(),
			LastStableOffset: l.LastStableOffset(),
			LogStartOffset:   l.logStart.Load(),
		}
		leo := l.leo.Load()
		if offset < res.LogStartOffset || offset > leo {
			return res, l.errf("offset %d outside [%d, %d]: %w", offset, res.LogStartOffset, leo, ErrOffsetOutOfRange)
		}
		if maxOffset > leo {
			maxOffset = leo
		}
		if offset >= maxOffset {
			return res, nil
		}
		data, err := l.readFrom(l.segments(), offset, maxBytes, maxOffset)
		if errors.Is(err, errSegmentGone) && attempt < 10 {
			continue // retention or compaction replaced a segment under us
		}
		res.Data = data
		return res, err
	}
}

// readFrom reads from the segment holding offset, moving on to later
// segments while a segment has nothing at or after offset (compaction
// gaps).
func (l *Log) readFrom(segs []*segment, offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	// The last segment whose base is <= offset.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	i = max(i, 0)
	for ; i < len(segs); i++ {
		if segs[i].base >= maxOffset {
			return nil, nil
		}
		data, found, err := l.readSegment(segs[i], offset, maxBytes, maxOffset)
		if err != nil || found {
			return data, err
		}
	}
	return nil, nil
}

// readSegment reads batches from seg. found is false when seg has no
// batch with last offset >= offset.
func (l *Log) readSegment(seg *segment, offset int64, maxBytes int, maxOffset int64) ([]byte, bool, error) {
	h, mem, err := l.cache.acquire(seg)
	if err != nil {
		return nil, false, err
	}
	defer l.cache.release(h)
	size := seg.size.Load()
	pos, hd, err := findBatch(h, mem, seg, offset, size)
	if err != nil || pos < 0 {
		return nil, false, err
	}
	if hd.LastOffset() >= maxOffset {
		return nil, true, nil // the batch holding offset is not readable yet
	}
	n := int64(max(maxBytes, hd.Size()))
	n = min(n, size-pos)
	buf := make([]byte, n)
	if _, err := h.log.ReadAt(buf, pos); err != nil && !(errors.Is(err, io.EOF)) {
		return nil, true, fmt.Errorf("segment %s: read at %d: %w", seg.name(), pos, err)
	}
	end := 0
	for end+batchHeaderSize <= len(buf) {
		b := buf[end:]
		size := int(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + logOverhead
		if size < batchHeaderSize || size > len(b) {
			break
		}
		last := int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])))
		if last >= maxOffset {
			break
		}
		if !l.opt.SkipReadVerify {
			if crc32.Checksum(b[offAttributes:size], crcTable) != binary.BigEndian.Uint32(b[offCRC:]) || b[offMagic] != 2 {
				if end == 0 {
					l.metrics.corruptReads.Inc()
					l.logger.Error("storage: corrupt batch on disk; refusing to serve it", "segment", seg.name(), "position", pos, "offset", offset)
					return nil, true, fmt.Errorf("segment %s position %d: stored batch fails its CRC: %w", seg.name(), pos, ErrCorruptBatch)
				}
				break // serve what precedes it; the next read reports it
			}
		}
		end += size
	}
	if end == 0 {
		// The batch holding offset is below maxOffset (checked above)
		// but does not fit in what the segment holds: its length is bad.
		l.metrics.corruptReads.Inc()
		return nil, true, fmt.Errorf("segment %s position %d: stored batch length runs past the segment end: %w", seg.name(), pos, ErrCorruptBatch)
	}
	return buf[:end], true, nil
}

// headerChunkBytes is how much findBatch reads at a time while walking
// batch headers forward from an index entry.
const headerChunkBytes = 8 << 10

// headerChunks recycles findBatch's read buffers. On the stack, 8 KiB
// would make every new fetch goroutine grow (copy) its stack on each
// read.
var headerChunks = sync.Pool{New: func() any { return new([headerChunkBytes]byte) }}

// findBatch locates the first batch in seg whose last offset is >= offset,
// using the sparse index and then reading headers forward. pos is -1 when
// there is none below size.
func findBatch(h *handle, mem memIndex, seg *segment, offset, size int64) (int64, header, error) {
	rel := offset - seg.base
	if rel < 0 {
		rel = 0
	}
	if rel > math.MaxUint32 {
		rel = math.MaxUint32
	}
	var pos int64
	if mem != nil {
		pos = lookupOffset(mem, len(mem)/offsetEntrySize, uint32(rel), size)
	} else if h.idx != nil {
		pos = lookupOffset(h.idx, h.idxEntries, uint32(rel), size)
	}
	cp := headerChunks.Get().(*[headerChunkBytes]byte)
	defer headerChunks.Put(cp)
	chunk := cp[:]
	for pos < size {
		n := min(int64(len(chunk)), size-pos)
		if _, err := h.log.ReadAt(chunk[:n], pos); err != nil && !errors.Is(err, io.EOF) {
			return -1, header{}, fmt.Errorf("segment %s: read at %d: %w", seg.name(), pos, err)
		}
		b := chunk[:n]
		if len(b) < batchHeaderSize {
			return -1, header{}, fmt.Errorf("segment %s: %d stray bytes at position %d: %w", seg.name(), len(b), pos, ErrCorruptBatch)
		}
		for len(b) >= batchHeaderSize {
			hd := parseHeader(b)
			if hd.BatchLength < minBatchLength {
				return -1, header{}, fmt.Errorf("segment %s: bad batch length %d at position %d: %w", seg.name(), hd.BatchLength, pos, ErrCorruptBatch)
			}
			if hd.LastOffset() >= offset {
				return pos, hd, nil
			}
			pos += int64(hd.Size())
			if hd.Size() > len(b) {
				break
			}
			b = b[hd.Size():]
		}
	}
	if pos > size {
		return -1, header{}, fmt.Errorf("segment %s: batch lengths run past the segment end: %w", seg.name(), ErrCorruptBatch)
	}
	return -1, header{}, nil
}
