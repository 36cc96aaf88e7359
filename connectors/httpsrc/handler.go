package httpsrc

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice/connectors"
)

// Record headers set on every record.
const (
	HeaderPath        = "http.path"
	HeaderContentType = "http.content.type"
)

// response is the JSON body of every answer.
type response struct {
	Records int    `json:"records,omitempty"`
	Error   string `json:"error,omitempty"`
	Line    int    `json:"line,omitempty"`
	Record  int    `json:"record,omitempty"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, body response) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *Source) serveIngest(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != s.cfg.path {
		writeJSON(w, http.StatusNotFound, response{Error: "not found; POST to " + s.cfg.path})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, response{Error: "method " + r.Method + " not allowed; use POST"})
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		writeJSON(w, http.StatusUnauthorized, response{Error: "missing or wrong bearer token"})
		return
	}
	format, err := s.format(r.Header.Get("Content-Type"))
	if err != nil {
		writeJSON(w, http.StatusUnsupportedMediaType, response{Error: err.Error()})
		return
	}
	if r.ContentLength > s.cfg.maxBodyBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, response{Error: fmt.Sprintf("body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.maxBodyBytes)})
		return
	}
	body, status, err := s.readBody(w, r)
	if err != nil {
		writeJSON(w, status, response{Error: err.Error()})
		return
	}
	items, berr := decodeBody(body, format, s.cfg.limits)
	if berr != nil {
		status := http.StatusBadRequest
		if berr.TooLarge {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, response{Error: berr.Error(), Line: berr.Line, Record: berr.Record, Field: berr.Field})
		return
	}
	var headerKey []byte
	if s.cfg.limits.keyField == "" && s.cfg.keyHeader != "" {
		v := r.Header.Get(s.cfg.keyHeader)
		if v == "" {
			writeJSON(w, http.StatusBadRequest, response{Error: "missing key header " + s.cfg.keyHeader, Field: s.cfg.keyHeader})
			return
		}
		headerKey = []byte(v)
	}
	req := &request{recs: s.records(r, items, headerKey, format), done: make(chan struct{})}
	if status, reason := s.enqueue(req); status != 0 {
		writeJSON(w, status, response{Error: reason + "; nothing was written, retry later"})
		return
	}
	s.await(w, r, req)
}

// await answers once the request's records are committed, or with 503/504
// when they are not in time. While the request waits unpolled it also
// watches for the worker stalling (paused), so a paused connector answers
// 503 within about stall.timeout rather than ack.timeout.
func (s *Source) await(w http.ResponseWriter, r *http.Request, req *request) {
	timer := time.NewTimer(s.cfg.ackTimeout)
	defer timer.Stop()
	tick := time.NewTicker(max(s.cfg.stallTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-req.done:
			if req.failed {
				s.answerUnconfirmed(w, req)
				return
			}
			writeJSON(w, http.StatusOK, response{Records: len(req.recs)})
			return
		case <-tick.C:
			if s.stalled() && s.withdraw(req) {
				writeJSON(w, http.StatusServiceUnavailable, response{Error: "connector is paused or backed up; nothing was written, retry later"})
				return
			}
		case <-timer.C:
			if s.withdraw(req) {
				writeJSON(w, http.StatusServiceUnavailable, response{Error: "connector is backed up; nothing was written, retry later"})
				return
			}
			writeJSON(w, http.StatusGatewayTimeout, response{Error: "records were handed to the log but not confirmed in time; they may or may not be written"})
			return
		case <-r.Context().Done():
			s.withdraw(req) // the client is gone; write nothing it was not told about
			return
		}
	}
}

func (s *Source) answerUnconfirmed(w http.ResponseWriter, req *request) {
	s.mu.Lock()
	polled := req.polled
	s.mu.Unlock()
	if !polled {
		writeJSON(w, http.StatusServiceUnavailable, response{Error: "connector is stopping; nothing was written, retry later"})
		return
	}
	writeJSON(w, http.StatusGatewayTimeout, response{Error: "connector stopped before the records were confirmed; they may or may not be written"})
}

// readBody reads the body, gunzipping it when Content-Encoding says gzip.
// http.max.body.bytes bounds both the bytes on the wire and the bytes
// after decompression, so a small compressed bomb is refused too.
func (s *Source) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := s.cfg.maxBodyBytes
	var in io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("gzip body: %v", err)
		}
		defer zr.Close()
		in = zr
	default:
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("unsupported Content-Encoding %q; send gzip or none", enc)
	}
	body, err := io.ReadAll(io.LimitReader(in, limit+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(body)) > limit:
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("body exceeds the limit of %d bytes", limit)
	case err != nil:
		return nil, http.StatusBadRequest, fmt.Errorf("reading body: %v", err)
	}
	return body, 0, nil
}

// authorized compares the bearer token in constant time.
func (s *Source) authorized(r *http.Request) bool {
	if len(s.cfg.token) == 0 {
		return true
	}
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(h[len(prefix):])), s.cfg.token) == 1
}

// format picks the body format from the Content-Type.
func (s *Source) format(ct string) (string, error) {
	if ct == "" {
		return s.cfg.defaultFormat, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("bad Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/json":
		return FormatJSON, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return FormatNDJSON, nil
	case "text/plain":
		return s.cfg.defaultFormat, nil
	}
	return "", fmt.Errorf("unsupported Content-Type %q; send application/json or application/x-ndjson", mt)
}

func (s *Source) records(r *http.Request, items []item, headerKey []byte, format string) []connectors.Record {
	now := time.Now()
	common := []connectors.Header{
		{Key: HeaderPath, Value: []byte(r.URL.Path)},
		{Key: HeaderContentType, Value: []byte(format)},
	}
	for _, name := range s.cfg.forwardHeaders {
		if v := r.Header.Get(name); v != "" {
			common = append(common, connectors.Header{Key: name, Value: []byte(v)})
		}
	}
	recs := make([]connectors.Record, len(items))
	for i, it := range items {
		key := it.key
		if key == nil {
			key = headerKey
		}
		recs[i] = connectors.Record{
			Topic:     s.cfg.topic,
			Key:       key,
			Value:     it.value,
			Timestamp: now,
			Headers:   common,
		}
	}
	return recs
}
