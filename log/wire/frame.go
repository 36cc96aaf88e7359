package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxFrameBytes is the largest request frame accepted when the caller
// does not choose a limit (Kafka's socket.request.max.bytes default).
const DefaultMaxFrameBytes = 100 << 20

// retainLimit is the largest buffer a FrameReader keeps between frames; a
// larger one (from an occasional big request) is dropped after use so that a
// connection that once sent 64 MiB does not pin 64 MiB forever.
const retainLimit = 4 << 20

// minFrameBytes is the smallest possible request: api key, api version and
// correlation id.
const minFrameBytes = 8

var (
	// ErrFrameTooLarge is returned for a frame whose size prefix exceeds the
	// reader's limit. Nothing is allocated for such a frame.
	ErrFrameTooLarge = errors.New("frame larger than the maximum request size")
	// ErrFrameTooSmall is returned for a size prefix too small to hold a
	// request header (including negative sizes).
	ErrFrameTooSmall = errors.New("frame too small for a request header")
)

// FrameReader reads size-prefixed frames from a stream. It reuses one buffer
// between frames: the slice Next returns is valid until the following call to
// Next, unless the caller takes ownership with Detach.
type FrameReader struct {
	r   io.Reader
	max int32
	hdr [4]byte
	buf []byte
}

// NewFrameReader returns a reader of frames no larger than maxBytes (0 means
// DefaultMaxFrameBytes).
func NewFrameReader(r io.Reader, maxBytes int32) *FrameReader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxFrameBytes
	}
	return &FrameReader{r: r, max: maxBytes}
}

// Next reads one frame and returns its body (without the size prefix). It
// returns io.EOF only on a clean end of stream between frames; a stream that
// ends inside a frame yields io.ErrUnexpectedEOF. A size prefix above the
// limit is refused before anything is allocated, and the stream is then
// unusable (the caller closes the connection).
func (f *FrameReader) Next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(f.hdr[:]))
	if size > f.max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, uint32(size), f.max)
	}
	if size < minFrameBytes {
		return nil, fmt.Errorf("%w: size prefix %d", ErrFrameTooSmall, size)
	}
	n := int(size)
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	buf := f.buf[:n]
	if _, err := io.ReadFull(f.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d-byte frame: %w", n, err)
	}
	if n > retainLimit {
		f.buf = nil
	}
	return buf, nil
}

// Detach gives the caller ownership of the slice the last Next returned; the
// reader allocates a fresh buffer for the next frame. Callers that hand a
// decoded request (whose byte fields alias the frame) to another goroutine
// must Detach first.
func (f *FrameReader) Detach() { f.buf = nil }

// Buffered reports whether a whole frame is already buffered, so that Next
// will return without reading from the stream. It is always false unless
// the FrameReader reads from a *bufio.Reader. A server uses it to hold back
// a flush of responses while pipelined requests are still to be handled,
// and to flush before it would block.
func (f *FrameReader) Buffered() bool {
	br, ok := f.r.(*bufio.Reader)
	if !ok || br.Buffered() < 4 {
		return false
	}
	hdr, err := br.Peek(4)
	if err != nil {
		return false
	}
	size := int32(binary.BigEndian.Uint32(hdr))
	return size >= 0 && br.Buffered()-4 >= int(size)
}
