package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// endless is a reader that never runs out of bytes, so a reader that trusted a
// huge size prefix would try to fill (and first allocate) the whole frame.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestFrameReaderRefusesHugePrefixWithoutAllocating(t *testing.T) {
	for _, size := range []uint32{1 << 31, 1<<31 - 1, 200 << 20} {
		prefix := binary.BigEndian.AppendUint32(nil, size)
		fr := NewFrameReader(io.MultiReader(bytes.NewReader(prefix), endless{}), 0)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := fr.Next()
		runtime.ReadMemStats(&after)
		if size >= 1<<31 {
			if !errors.Is(err, ErrFrameTooSmall) {
				t.Fatalf("prefix %#x: got %v, want ErrFrameTooSmall (negative size)", size, err)
			}
		} else if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("prefix %#x: got %v, want ErrFrameTooLarge", size, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Fatalf("prefix %#x: allocated %d bytes before refusing", size, grew)
		}
	}
}

func TestFrameReaderLimits(t *testing.T) {
	frame := func(n int) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n))
		return append(b, make([]byte, n)...)
	}
	var stream []byte
	stream = append(stream, frame(8)...)
	stream = append(stream, frame(64)...)
	fr := NewFrameReader(bytes.NewReader(stream), 64)
	for _, want := range []int{8, 64} {
		got, err := fr.Next()
		if err != nil || len(got) != want {
			t.Fatalf("Next = %d bytes, %v; want %d", len(got), err, want)
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
	if _, err := NewFrameReader(bytes.NewReader(frame(65)), 64).Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("65 > 64: %v", err)
	}
	if _, err := NewFrameReader(bytes.NewReader(frame(3)), 64).Next(); !errors.Is(err, ErrFrameTooSmall) {
		t.Fatalf("3-byte frame: %v", err)
	}
	if _, err := NewFrameReader(bytes.NewReader(frame(20)[:10]), 64).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v", err)
	}
}

// requestFrame encodes req as a client would and strips the size prefix.
func requestFrame(req kmsg.Request, corr int32) []byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("test-client"))
	return f.AppendRequest(nil, req, corr)[4:]
}

func seedRequests() []kmsg.Request {
	md := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr("orders")
	md.Topics = append(md.Topics, t)

	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = -1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "orders"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte("not really a batch")
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = "g"
	join.ProtocolType = "consumer"

	var out []kmsg.Request
	for _, r := range []kmsg.Request{kmsg.NewPtrApiVersionsRequest(), md, prod, fetch, join, kmsg.NewPtrOffsetFetchRequest()} {
		for _, v := range []int16{0, r.MaxVersion() / 2, r.MaxVersion()} {
			// Re-decode at each version so the seed holds only the
			// fields that version carries.
			r.SetVersion(v)
			d := kmsg.RequestForKey(r.Key())
			d.SetVersion(v)
			if d.ReadFrom(r.AppendTo(nil)) == nil {
				out = append(out, d)
			}
		}
	}
	return out
}

func TestParseHeaderAndBodyRoundTrip(t *testing.T) {
	for _, req := range seedRequests() {
		frame := requestFrame(req, 77)
		h, body, err := ParseHeader(frame)
		if err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
		}
		if h.Key != req.Key() || h.Version != req.GetVersion() || h.CorrelationID != 77 || h.ClientID != "test-client" {
			t.Fatalf("header %+v for %s v%d", h, kmsg.NameForKey(req.Key()), req.GetVersion())
		}
		got, err := DecodeBody(h, body)
		if err != nil {
			t.Fatalf("%s v%d: %v", h.APIName(), h.Version, err)
		}
		if !bytes.Equal(got.AppendTo(nil), req.AppendTo(nil)) {
			t.Fatalf("%s v%d: body changed in round trip", h.APIName(), h.Version)
		}
	}
}

func TestParseHeaderErrors(t *testing.T) {
	if _, _, err := ParseHeader([]byte{0, 1}); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("short: %v", err)
	}
	unknown := []byte{0x7f, 0x00, 0, 1, 0, 0, 0, 9, 0xff, 0xff}
	h, _, err := ParseHeader(unknown)
	if !errors.Is(err, ErrUnknownAPIKey) || h.CorrelationID != 9 {
		t.Fatalf("unknown key: %+v %v", h, err)
	}
	// Metadata v1 whose client id claims 100 bytes but has 2.
	bad := []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 100, 'a', 'b'}
	if _, _, err := ParseHeader(bad); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("bad client id: %v", err)
	}
	// A body that does not parse.
	h, body, err := ParseHeader([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeBody(h, body); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("truncated metadata body: %v", err)
	}
}

func TestApiVersionsResponseHeaderIsV0(t *testing.T) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3) // flexible
	out := AppendResponse(nil, 5, resp)
	body := out[8:]
	got := kmsg.NewPtrApiVersionsResponse()
	got.SetVersion(3)
	if err := got.ReadFrom(body); err != nil {
		t.Fatalf("ApiVersions v3 response must have a v0 header: %v", err)
	}
	md := kmsg.NewPtrMetadataResponse()
	md.SetVersion(9) // flexible: header v1 has one tag byte
	out = AppendResponse(nil, 6, md)
	if int(binary.BigEndian.Uint32(out)) != len(out)-4 || out[8] != 0 {
		t.Fatalf("metadata v9 response header: % x", out[:9])
	}
	got2 := kmsg.NewPtrMetadataResponse()
	got2.SetVersion(9)
	if err := got2.ReadFrom(out[9:]); err != nil {
		t.Fatal(err)
	}
}

// TestHeaderTagCountBounded: a header claiming billions of tagged fields is
// refused at once instead of looping over them.
func TestHeaderTagCountBounded(t *testing.T) {
	frame := []byte("\x00\x01\x00\x10\xff\x00\x00\x00\x00\x00\xff\xff\xff\xff\x01\x00")
	if _, _, err := ParseHeader(frame); !errors.Is(err, ErrMalformedRequest) {
		t.Fatalf("huge header tag count: %v, want ErrMalformedRequest", err)
	}
}

// TestBodyTagCountDoesNotSpin: a flexible body whose tagged-field count
// claims 2^32-1 entries in 8 bytes is refused promptly (unpatched kmsg
// would loop for minutes). The check is liveness with a wide margin, not a
// timing measurement.
func TestBodyTagCountDoesNotSpin(t *testing.T) {
	frame := append([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0}, // Metadata v12, header v2
		0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f) // null topics, two bools, tag count 2^32-1
	h, body, err := ParseHeader(frame)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := DecodeBody(h, body); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrMalformedRequest) {
			t.Fatalf("got %v, want ErrMalformedRequest", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("decoding an 8-byte body with a huge tag count did not finish within 30s")
	}
}

func TestFrameReaderBuffered(t *testing.T) {
	frame := func(body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		return append(b, body...)
	}
	two := append(frame("first-frame"), frame("second-frame")...)
	// Over a plain reader nothing is ever known to be buffered.
	if NewFrameReader(bytes.NewReader(two), 0).Buffered() {
		t.Fatal("Buffered is true without a bufio.Reader")
	}
	// The second frame arrives in two pieces.
	pr, pw := io.Pipe()
	fr := NewFrameReader(bufio.NewReader(pr), 0)
	go func() {
		pw.Write(two[:len(two)-3])
		pw.Write(two[len(two)-3:])
		pw.Close()
	}()
	if got, err := fr.Next(); err != nil || string(got) != "first-frame" {
		t.Fatalf("Next = %q, %v", got, err)
	}
	if fr.Buffered() {
		t.Fatal("Buffered is true with only part of the next frame buffered")
	}
	if got, err := fr.Next(); err != nil || string(got) != "second-frame" {
		t.Fatalf("Next = %q, %v", got, err)
	}
	if fr.Buffered() {
		t.Fatal("Buffered is true at the end of the stream")
	}

	fr = NewFrameReader(bufio.NewReader(bytes.NewReader(two)), 0)
	if _, err := fr.Next(); err != nil {
		t.Fatal(err)
	}
	if !fr.Buffered() {
		t.Fatal("Buffered is false with a whole frame buffered")
	}
}
