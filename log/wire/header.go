package wire

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	// ErrUnknownAPIKey: the request names an API key kmsg does not know.
	// Kafka closes the connection for these.
	ErrUnknownAPIKey = errors.New("unknown api key")
	// ErrMalformedRequest: the header or body does not parse.
	ErrMalformedRequest = errors.New("malformed request")
)

// apiVersionsKey is special: its response header is always v0 so that a
// client that does not yet know the broker's versions can read it.
const apiVersionsKey = 18

// Header is a parsed request header (v0, v1 or v2).
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	// ClientID is copied out of the frame, so it outlives the frame buffer.
	ClientID string
	// Flexible reports whether the request (and its response) use
	// flexible versions (KIP-482) at this version.
	Flexible bool
}

// APIName returns the API's name ("Produce", "Fetch", ...) for logs.
func (h Header) APIName() string {
	if kmsg.RequestForKey(h.Key) != nil {
		return kmsg.NameForKey(h.Key)
	}
	return fmt.Sprintf("unknown(%d)", h.Key)
}

// ParseHeader parses the request header at the front of frame and returns the
// header and the remaining body bytes. For a known key the header version is
// chosen from the request version. For a version above what kmsg knows only
// key, version and correlation id are parsed (body nil): nothing more about
// its shape is known. On ErrUnknownAPIKey the key, version and correlation
// id are still filled in.
func ParseHeader(frame []byte) (Header, []byte, error) {
	var h Header
	if len(frame) < minFrameBytes {
		return h, nil, fmt.Errorf("%w: %d-byte header", ErrMalformedRequest, len(frame))
	}
	r := kbin.Reader{Src: frame}
	h.Key = r.Int16()
	h.Version = r.Int16()
	h.CorrelationID = r.Int32()
	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return h, nil, fmt.Errorf("%w %d (version %d)", ErrUnknownAPIKey, h.Key, h.Version)
	}
	if h.Version < 0 {
		return h, nil, fmt.Errorf("%w: %s negative version %d", ErrMalformedRequest, h.APIName(), h.Version)
	}
	if h.Version > req.MaxVersion() {
		// A version this build cannot decode: the rest of the header's
		// shape is unknown, and the caller refuses the request (or, for
		// ApiVersions, answers with v0) using only what is parsed.
		req.SetVersion(req.MaxVersion())
		h.Flexible = req.IsFlexible()
		return h, nil, nil
	}
	req.SetVersion(h.Version)
	h.Flexible = req.IsFlexible()
	// ControlledShutdown v0 is the one request with a v0 header (no
	// client id); kmsg's formatter writes it that way too.
	if h.Key == 7 && h.Version == 0 {
		return h, r.Src, nil
	}
	if id := r.NullableString(); id != nil {
		h.ClientID = *id
	}
	if h.Flexible {
		// Not kmsg.SkipTags: it loops as many times as the count
		// claims, even past the end of the input (a 5-byte count means
		// billions of iterations). Every tag takes at least two bytes.
		n := r.Uvarint()
		if int64(n) > int64(len(r.Src)/2) {
			return h, nil, fmt.Errorf("%w: %s v%d header claims %d tagged fields in %d bytes", ErrMalformedRequest, h.APIName(), h.Version, n, len(r.Src))
		}
		for ; n > 0; n-- {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
	}
	if err := r.Complete(); err != nil {
		return h, nil, fmt.Errorf("%w: %s v%d header: %v", ErrMalformedRequest, h.APIName(), h.Version, err)
	}
	return h, r.Src, nil
}

// DecodeBody decodes a request body for a header ParseHeader accepted. The
// caller must have checked that the version is one it supports; kmsg cannot
// decode versions newer than it knows. Byte fields of the result (produced
// records, for example) alias body; strings are copied.
func DecodeBody(h Header, body []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.Key)
	if req == nil {
		return nil, fmt.Errorf("%w %d", ErrUnknownAPIKey, h.Key)
	}
	if h.Version > req.MaxVersion() {
		return nil, fmt.Errorf("%w: %s v%d is newer than this build understands (max v%d)",
			ErrMalformedRequest, h.APIName(), h.Version, req.MaxVersion())
	}
	req.SetVersion(h.Version)
	// kmsg is replaced in go.mod by third_party/kmsg, whose tagged-field
	// loops stop at the end of input (upstream v1.15.0 loops as many times
	// as a tag count claims: a few bytes could cost minutes of CPU).
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", ErrMalformedRequest, h.APIName(), h.Version, err)
	}
	return req, nil
}
