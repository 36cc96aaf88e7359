package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// scanner reads a segment file sequentially, validating every batch
// (frame, CRC, header) and yielding it. It buffers reads in chunks and
// never allocates more than maxBatch for one batch.
type scanner struct {
	r        io.ReaderAt
	pos      int64 // file position of buf[off]
	end      int64 // file size
	buf      []byte
	off, n   int
	maxBatch int
}

const scanChunk = 1 << 20

func newScanner(r io.ReaderAt, start, end int64, maxBatch int) *scanner {
	return &scanner{r: r, pos: start, end: end, maxBatch: maxBatch}
}

// next returns the file position and bytes of the next valid batch, io.EOF
// at a clean end, or an error (wrapping ErrCorruptBatch) describing the
// invalid or torn batch at the returned position.
func (s *scanner) next() (int64, []byte, header, error) {
	pos := s.pos
	if pos >= s.end {
		return pos, nil, header{}, io.EOF
	}
	if avail := s.n - s.off; avail < batchHeaderSize && int64(avail) < s.end-pos {
		if err := s.fill(batchHeaderSize); err != nil {
			return pos, nil, header{}, err
		}
	}
	b := s.buf[s.off:s.n]
	if len(b) >= logOverhead {
		bl := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
		size := int64(bl) + logOverhead
		if bl >= minBatchLength && size <= int64(s.maxBatch) && int64(len(b)) < size && size <= s.end-pos {
			if err := s.fill(int(size)); err != nil {
				return pos, nil, header{}, err
			}
			b = s.buf[s.off:s.n]
		}
	}
	h, err := validateBatch(b, s.maxBatch, false)
	if err != nil {
		if errors.Is(err, ErrBatchTooLarge) {
			err = corrupt("%v", err)
		}
		return pos, nil, h, err
	}
	size := h.Size()
	s.off += size
	s.pos += int64(size)
	return pos, b[:size], h, nil
}

// fill makes at least need bytes available from the current position (or
// all that remain), growing the buffer up to what is needed.
func (s *scanner) fill(need int) error {
	remaining := s.end - s.pos
	want := max(int64(need), int64(scanChunk))
	want = min(want, remaining)
	if int64(len(s.buf)) < want {
		s.buf = make([]byte, want)
	}
	n, err := s.r.ReadAt(s.buf[:want], s.pos)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read at %d: %w", s.pos, err)
	}
	// A short read means the file is shorter than its size said: the
	// batch there will be reported as torn.
	s.off, s.n = 0, n
	return nil
}

// forEachHeader visits the batch headers in [start, end) of a file whose
// batches were already validated, reading only the headers.
func forEachHeader(r io.ReaderAt, start, end int64, fn func(pos int64, h *header) error) error {
	var hb [batchHeaderSize]byte
	for pos := start; pos < end; {
		if end-pos < batchHeaderSize {
			return corrupt("%d stray bytes at position %d", end-pos, pos)
		}
		if _, err := r.ReadAt(hb[:], pos); err != nil {
			return fmt.Errorf("read header at %d: %w", pos, err)
		}
		h := parseHeader(hb[:])
		if h.BatchLength < minBatchLength || pos+int64(h.Size()) > end {
			return corrupt("bad batch length %d at position %d", h.BatchLength, pos)
		}
		if err := fn(pos, &h); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}
