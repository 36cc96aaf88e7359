package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzFrameReader feeds arbitrary streams to the frame reader: it must never
// panic, never return a frame above the limit, and never allocate beyond it.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x80, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 9, 1})
	f.Fuzz(func(t *testing.T, stream []byte) {
		const limit = 1 << 10
		fr := NewFrameReader(bytes.NewReader(stream), limit)
		for {
			frame, err := fr.Next()
			if err != nil {
				return
			}
			if len(frame) > limit || len(frame) < minFrameBytes {
				t.Fatalf("frame of %d bytes escaped limits", len(frame))
			}
		}
	})
}

// FuzzParseRequest decodes arbitrary frames as requests: header and body
// decoding must fail cleanly, never panic. Seeds are real client requests of
// several APIs and versions.
func FuzzParseRequest(f *testing.F) {
	for _, req := range seedRequests() {
		f.Add(requestFrame(req, 1))
	}
	f.Add(binary.BigEndian.AppendUint64(nil, 0))
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, body, err := ParseHeader(frame)
		if err != nil {
			return
		}
		req, err := DecodeBody(h, body)
		if err != nil {
			return
		}
		// Whatever decoded must encode again.
		_ = req.AppendTo(nil)
	})
}
