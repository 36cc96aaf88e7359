package file

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"syscall"
)

// fileID is a file's identity: it survives renames, unlike its path.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	}
	return fileID{}
}

// filePos is a file source position: identity, the byte offset after the
// last record delivered, the records read so far, a fingerprint of the
// file's first bytes (so a reused inode is not mistaken for the old file)
// and, for CSV, the header.
type filePos struct {
	fileID
	Offset      int64    `json:"offset"`
	Line        int64    `json:"line"`
	Fingerprint uint32   `json:"fp"`
	FPLen       int64    `json:"fp_len"`
	Header      []string `json:"header,omitempty"`
}

// fingerprintBytes is how much of a file's start identifies it.
const fingerprintBytes = 1024

func fingerprint(f *os.File, n int64) (uint32, int64, error) {
	if n > fingerprintBytes {
		n = fingerprintBytes
	}
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, err
	}
	return crc32.ChecksumIEEE(buf[:m]), int64(m), nil
}

// The reader reads files in blocks of readBlock bytes and hands out
// records as slices of them, without copying: a block is never written
// again once records point into it (a new block is started instead), and
// the garbage collector frees it when its records are gone. A read is not
// started with less than minRead bytes of room left in the block.
const (
	readBlock = 1 << 20
	minRead   = 64 << 10
)

// fileReader reads records from one open file.
type fileReader struct {
	path   string
	f      *os.File
	id     fileID
	split  splitFunc
	maxLen int

	buf     []byte // the current block: bytes read; unconsumed from buf[start:]
	start   int
	offset  int64 // file offset of buf[start]: the end of the last record
	readOff int64 // file offset of the end of buf
	line    int64 // records consumed (including header and skipped)

	header    []string // CSV header in force for this file
	draining  bool     // rotated away: read to EOF, then close
	done      bool     // finished (non-tail at EOF, or drained)
	discard   bool     // skipping the rest of an over-long record
	fpSum     uint32
	fpLen     int64
	needsHead bool // the next record is the file's first (the CSV header)
}

func openReader(path string, split splitFunc, maxLen int) (*fileReader, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", path)
	}
	return &fileReader{path: path, f: f, id: idOf(fi), split: split, maxLen: maxLen, needsHead: true}, fi, nil
}

// seek positions the reader at offset (the start of a record).
func (r *fileReader) seek(offset, line int64) {
	r.buf, r.start = nil, 0 // records may still point into the old block
	r.offset, r.readOff, r.line = offset, offset, line
	r.needsHead = offset == 0
	r.discard = false
}

func (r *fileReader) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// errTooLong is returned (once per record) for a record longer than maxLen.
type errTooLong struct{ limit int }

func (e errTooLong) Error() string {
	return fmt.Sprintf("record longer than max.record.bytes (%d)", e.limit)
}

// next returns the next complete record (without its line terminator) and
// whether one was available. At EOF with final set, unterminated trailing
// bytes count as the last record; otherwise they wait for more data. The
// record is a slice of the reader's block, which is never overwritten, so
// it stays valid (and needs no copy); its capacity ends with it.
func (r *fileReader) next(final bool) ([]byte, bool, error) {
	for {
		unread := r.buf[r.start:]
		if n := r.split(unread); n >= 0 {
			rec := unread[:n:n]
			r.start += n
			r.offset += int64(n)
			r.line++
			if r.discard {
				r.discard = false
				continue
			}
			return trimEOL(rec), true, nil
		}
		if len(unread) > r.maxLen {
			// Drop what we have of the over-long record and skip to its end.
			r.offset += int64(len(unread))
			r.start = len(r.buf)
			unread = nil
			if !r.discard {
				r.discard = true
				return nil, false, errTooLong{r.maxLen}
			}
		}
		if cap(r.buf)-len(r.buf) < minRead {
			// Start a new block with the partial record at its head.
			nb := make([]byte, len(unread), max(readBlock, 2*len(unread)+minRead))
			copy(nb, unread)
			r.buf, r.start = nb, 0
		}
		n, err := r.f.ReadAt(r.buf[len(r.buf):cap(r.buf)], r.readOff)
		r.buf = r.buf[:len(r.buf)+n]
		r.readOff += int64(n)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, fmt.Errorf("read %s: %w", r.path, err)
		}
		if n > 0 {
			continue
		}
		// EOF.
		rest := r.buf[r.start:]
		if final && len(rest) > 0 {
			r.start += len(rest)
			r.offset += int64(len(rest))
			r.line++
			if r.discard {
				r.discard = false
				return nil, false, nil
			}
			return trimEOL(rest), true, nil
		}
		return nil, false, nil
	}
}
