package storage

import (
	"encoding/binary"
	"io"
)

// Index files use Kafka's layouts. The offset index (.index) maps a batch's
// base offset, relative to the segment's base, to the batch's byte position
// in the .log file: 4-byte relative offset, 4-byte position. The time index
// (.timeindex) maps the largest timestamp seen so far to the relative offset
// of the batch that carries it: 8-byte timestamp, 4-byte relative offset.
// Both are sparse (one entry per index.interval.bytes of log) and sorted.
const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

func appendOffsetEntry(b []byte, rel uint32, pos uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, rel)
	return binary.BigEndian.AppendUint32(b, pos)
}

func appendTimeEntry(b []byte, ts int64, rel uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return binary.BigEndian.AppendUint32(b, rel)
}

// memIndex lets an in-memory index be searched like an index file.
type memIndex []byte

func (m memIndex) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// lookupOffset returns the position of the last offset-index entry whose
// relative offset is <= rel and whose position is below limit, or 0. An
// unreadable index only makes the caller scan from the segment start.
func lookupOffset(r io.ReaderAt, entries int, rel uint32, limit int64) int64 {
	var buf [offsetEntrySize]byte
	read := func(i int) (uint32, uint32, bool) {
		if _, err := r.ReadAt(buf[:], int64(i)*offsetEntrySize); err != nil {
			return 0, 0, false
		}
		return binary.BigEndian.Uint32(buf[:4]), binary.BigEndian.Uint32(buf[4:]), true
	}
	lo, hi := 0, entries // find the first entry with relOffset > rel
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		ro, _, ok := read(mid)
		if !ok {
			return 0
		}
		if ro <= rel {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo - 1; i >= 0; i-- {
		_, pos, ok := read(i)
		if !ok {
			return 0
		}
		if int64(pos) < limit {
			return int64(pos)
		}
	}
	return 0
}

// lookupTime returns the relative offset of the last time-index entry whose
// timestamp is below ts, or -1 when there is none: every batch up to and
// including that entry's batch has timestamps below ts.
func lookupTime(r io.ReaderAt, entries int, ts int64) int64 {
	var buf [timeEntrySize]byte
	lo, hi := 0, entries // first entry with timestamp >= ts
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if _, err := r.ReadAt(buf[:], int64(mid)*timeEntrySize); err != nil {
			return -1
		}
		if int64(binary.BigEndian.Uint64(buf[:8])) < ts {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return -1
	}
	if _, err := r.ReadAt(buf[:], int64(lo-1)*timeEntrySize); err != nil {
		return -1
	}
	return int64(binary.BigEndian.Uint32(buf[8:]))
}

// checkOffsetIndex is the sanity check run on an index file of a segment
// below the recovery point: whole entries, strictly increasing offsets and
// positions, all inside the log file. A failed check means rebuild.
func checkOffsetIndex(b []byte, logSize int64) bool {
	if len(b)%offsetEntrySize != 0 {
		return false
	}
	var prevRel, prevPos int64 = -1, -1
	for i := 0; i < len(b); i += offsetEntrySize {
		rel := int64(binary.BigEndian.Uint32(b[i:]))
		pos := int64(binary.BigEndian.Uint32(b[i+4:]))
		if rel <= prevRel || pos <= prevPos || pos >= logSize {
			return false
		}
		prevRel, prevPos = rel, pos
	}
	return true
}

func checkTimeIndex(b []byte) bool {
	if len(b)%timeEntrySize != 0 {
		return false
	}
	var prevTs, prevRel int64 = -1 << 63, -1
	for i := 0; i < len(b); i += timeEntrySize {
		ts := int64(binary.BigEndian.Uint64(b[i:]))
		rel := int64(binary.BigEndian.Uint32(b[i+8:]))
		if ts < prevTs || rel < prevRel {
			return false
		}
		prevTs, prevRel = ts, rel
	}
	return true
}

// lastTimeEntry returns the last entry of a time index, or ok=false.
func lastTimeEntry(b []byte) (ts int64, rel uint32, ok bool) {
	if len(b) < timeEntrySize {
		return 0, 0, false
	}
	e := b[len(b)-timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:]), true
}
