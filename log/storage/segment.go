package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
)

// File name extensions inside a partition directory.
const (
	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
	extCleaned   = ".cleaned" // suffix of a compaction output not yet swapped in
	extTmp       = ".tmp"     // suffix of a file being written atomically
	extSnapshot  = ".snapshot"
)

// segmentName is the 20-digit, zero-padded base offset Kafka uses.
func segmentName(base int64) string { return fmt.Sprintf("%020d", base) }

// parseSegmentName parses "<20 digits><ext>"; ok is false for other names.
func parseSegmentName(name, ext string) (int64, bool) {
	if !strings.HasSuffix(name, ext) {
		return 0, false
	}
	s := strings.TrimSuffix(name, ext)
	if len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// segment is one .log file and its indexes. Immutable fields are set
// before the segment is published; the rest are atomics or guarded as
// noted. Only the last segment of a log (the active one) is written.
type segment struct {
	dir  string
	base int64

	size     atomic.Int64 // bytes readers may read: whole, validated batches
	maxTs    atomic.Int64 // largest batch max timestamp; -1 when empty
	maxTsOff atomic.Int64 // base offset of the batch holding maxTs

	// In-memory indexes (active segment; rolled segments until evicted).
	// Entries below len are never modified while published.
	idx  atomic.Pointer[[]byte]
	tidx atomic.Pointer[[]byte]

	// Guarded by the file cache's mutex.
	h    *handle
	gone bool

	flushing atomic.Bool // rolled, its background flush (index files included) not done

	w *segWriter // the writer's state; only while active, only under Log.wmu
}

// segWriter is the active segment's writer-only state.
type segWriter struct {
	f        *os.File
	next     int64     // offset after the last batch
	roll     rollClock // segment.ms
	sinceIdx int       // bytes appended since the last offset-index entry
	idx      []byte
	tidx     []byte
	lastTsIx int64 // timestamp of the last time-index entry; -1 if none
}

func (s *segment) name() string           { return segmentName(s.base) + extLog }
func (s *segment) path(ext string) string { return filepath.Join(s.dir, segmentName(s.base)+ext) }

func newSegment(dir string, base int64) *segment {
	s := &segment{dir: dir, base: base}
	s.maxTs.Store(-1)
	s.maxTsOff.Store(-1)
	return s
}

// noteBatch records a batch appended (or recovered) at pos into the
// in-memory indexes and the segment's timestamp summary. Writer only; the
// caller publishes the new size afterwards.
func (s *segment) noteBatch(h *header, pos int64, interval int) {
	w := s.w
	if h.MaxTimestamp > s.maxTs.Load() {
		s.maxTsOff.Store(h.BaseOffset)
		s.maxTs.Store(h.MaxTimestamp)
	}
	if pos > 0 && w.sinceIdx >= interval {
		w.idx = appendOffsetEntry(w.idx, uint32(h.BaseOffset-s.base), uint32(pos))
		idx := w.idx
		s.idx.Store(&idx)
		w.sinceIdx = 0
		if ts := s.maxTs.Load(); ts > w.lastTsIx {
			w.tidx = appendTimeEntry(w.tidx, ts, uint32(s.maxTsOff.Load()-s.base))
			tidx := w.tidx
			s.tidx.Store(&tidx)
			w.lastTsIx = ts
		}
	}
	w.sinceIdx += h.Size()
	if w.next < h.LastOffset()+1 {
		w.next = h.LastOffset() + 1
	}
}

// finishTimeIndex appends the segment's largest timestamp as a final time
// index entry (as Kafka does when a segment becomes inactive), so a closed
// segment's max timestamp can be read from its last entry.
func (s *segment) finishTimeIndex() {
	w := s.w
	if ts := s.maxTs.Load(); ts >= 0 && ts > w.lastTsIx {
		w.tidx = appendTimeEntry(w.tidx, ts, uint32(s.maxTsOff.Load()-s.base))
		w.lastTsIx = ts
	}
	tidx := w.tidx
	s.tidx.Store(&tidx)
}

// writeIndexes writes the in-memory indexes to the segment's index files
// (atomically; the caller syncs the directory).
func (s *segment) writeIndexes() error {
	if err := writeFileAtomic(s.path(extIndex), s.w.idx, false); err != nil {
		return err
	}
	return writeFileAtomic(s.path(extTimeIndex), s.w.tidx, false)
}
