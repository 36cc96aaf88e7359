package httpsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/sluicehq/sluice/connectors"
)

const token = "s3cret-token"

func openSource(t *testing.T, extra map[string]string) *Source {
	t.Helper()
	raw := map[string]string{KeyTopic: "payments", KeyListen: "127.0.0.1:0", KeyToken: token, KeyPollWait: "50ms"}
	for k, v := range extra {
		raw[k] = v
	}
	cfg, err := Spec.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSource()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "h", Logger: logger}, cfg, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

type result struct {
	status int
	body   response
}

// post sends a request in the background and returns where its answer
// will arrive.
func post(t *testing.T, s *Source, contentType, auth, body string) <-chan result {
	t.Helper()
	ch := make(chan result, 1)
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/ingest", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Idempotency-Key", "idem-1")
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			ch <- result{status: -1, body: response{Error: err.Error()}}
			return
		}
		defer resp.Body.Close()
		var r response
		_ = json.NewDecoder(resp.Body).Decode(&r)
		ch <- result{status: resp.StatusCode, body: r}
	}()
	return ch
}

func wait(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no answer")
		return result{}
	}
}

// pollUntil polls until it has n records.
func pollUntil(t *testing.T, s *Source, n int) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("polled %d records; want %d", len(out), n)
		}
		recs, err := s.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	return out
}

// runWorker plays the worker: poll, and commit everything polled.
func runWorker(t *testing.T, s *Source) (stop func() []connectors.Record) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []connectors.Record)
	go func() {
		var all []connectors.Record
		for ctx.Err() == nil {
			recs, err := s.Poll(ctx)
			if err != nil || len(recs) == 0 {
				continue
			}
			all = append(all, recs...)
			_ = s.Commit(ctx, []connectors.Position{recs[len(recs)-1].Position})
		}
		done <- all
	}()
	return func() []connectors.Record { cancel(); return <-done }
}

func TestAuth(t *testing.T) {
	s := openSource(t, nil)
	stop := runWorker(t, s)
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer " + token + "x", "Bearer"} {
		if r := wait(t, post(t, s, "application/json", auth, `{"a":1}`)); r.status != http.StatusUnauthorized {
			t.Errorf("auth %q: status %d; want 401", auth, r.status)
		}
	}
	if r := wait(t, post(t, s, "application/json", "bearer "+token, `{"a":1}`)); r.status != http.StatusOK || r.body.Records != 1 {
		t.Errorf("right token: %+v", r)
	}
	if got := stop(); len(got) != 1 {
		t.Fatalf("worker got %d records; want only the authorized one", len(got))
	}
}

func TestBadBodiesWriteNothing(t *testing.T) {
	s := openSource(t, map[string]string{KeyKeyField: "account", KeyMaxBodyBytes: "200", KeyMaxRecords: "3"})
	stop := runWorker(t, s)
	for _, tc := range []struct {
		name, ct, body string
		status         int
		line, record   int
		field          string
	}{
		{"ndjson bad line", "application/x-ndjson", "{\"account\":\"a\"}\n\n{\"account\":\"b\"}\n{\"account\":\"c\",}\n", 400, 4, 0, ""},
		{"ndjson missing key", "application/x-ndjson", "{\"account\":\"a\"}\n{\"acct\":\"b\"}\n", 400, 2, 0, "account"},
		{"ndjson key object", "application/x-ndjson", "{\"account\":{\"id\":1}}\n", 400, 1, 0, "account"},
		{"array element not object", "application/json", `[{"account":"a"},7]`, 400, 0, 2, "account"},
		{"json broken", "application/json", `{"account":`, 400, 0, 0, ""},
		{"empty", "application/json", ``, 400, 0, 0, ""},
		{"too many records", "application/x-ndjson", "{\"account\":1}\n{\"account\":2}\n{\"account\":3}\n{\"account\":4}\n", 413, 0, 0, ""},
		{"too large", "application/json", `{"account":"` + strings.Repeat("x", 300) + `"}`, 413, 0, 0, ""},
		{"content type", "text/csv", `a,b`, 415, 0, 0, ""},
	} {
		r := wait(t, post(t, s, tc.ct, "Bearer "+token, tc.body))
		if r.status != tc.status || r.body.Line != tc.line || r.body.Record != tc.record || r.body.Field != tc.field || r.body.Error == "" {
			t.Errorf("%s: got %d %+v; want %d line %d record %d field %q", tc.name, r.status, r.body, tc.status, tc.line, tc.record, tc.field)
		}
	}
	r := wait(t, post(t, s, "application/x-ndjson", "Bearer "+token, "{\"account\":\"a\",\"n\":1}\n{\"account\":42,\"n\":2}\n"))
	if r.status != 200 || r.body.Records != 2 {
		t.Fatalf("good body: %+v", r)
	}
	got := stop()
	if len(got) != 2 {
		t.Fatalf("worker got %d records; want only the 2 of the good body", len(got))
	}
	if string(got[0].Key) != "a" || string(got[1].Key) != "42" || string(got[1].Value) != `{"account":42,"n":2}` || got[0].Topic != "payments" {
		t.Fatalf("records: %+v", got)
	}
	if v, _ := got[0].Header("Idempotency-Key"); v != nil {
		t.Fatalf("header forwarded without headers.forward")
	}
}

// TestAnswersOnlyAfterCommit: the handler answers 200 only once the worker
// commits the request's records, not when it polls them.
func TestAnswersOnlyAfterCommit(t *testing.T) {
	s := openSource(t, map[string]string{KeyForwardHeaders: "Idempotency-Key"})
	ch := post(t, s, "application/json", "Bearer "+token, `[{"amount":"10.00"},{"amount":"2.50"}]`)
	recs := pollUntil(t, s, 2)
	if v, _ := recs[0].Header("Idempotency-Key"); string(v) != "idem-1" {
		t.Fatalf("forwarded header = %q", v)
	}
	select {
	case r := <-ch:
		t.Fatalf("answered %d before the commit", r.status)
	case <-time.After(200 * time.Millisecond):
	}
	// Committing the first record only is not enough.
	if err := s.Commit(context.Background(), []connectors.Position{recs[0].Position}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-ch:
		t.Fatalf("answered %d after a partial commit", r.status)
	case <-time.After(200 * time.Millisecond):
	}
	if err := s.Commit(context.Background(), []connectors.Position{recs[1].Position}); err != nil {
		t.Fatal(err)
	}
	if r := wait(t, ch); r.status != 200 || r.body.Records != 2 {
		t.Fatalf("after commit: %+v", r)
	}
}

// TestPausedWorkerGets503: with no poll for stall.timeout, requests are
// refused at once and nothing is queued.
func TestPausedWorkerGets503(t *testing.T) {
	s := openSource(t, map[string]string{KeyStallTimeout: "100ms"})
	time.Sleep(300 * time.Millisecond) // no Poll: the worker is paused
	r := wait(t, post(t, s, "application/json", "Bearer "+token, `{"a":1}`))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d; want 503", r.status)
	}
	if recs := s.take(); len(recs) != 0 {
		t.Fatalf("a refused request was queued: %d records", len(recs))
	}
}

// TestAckTimeout: a request not polled in time is withdrawn (503, nothing
// written); one polled but not committed in time gets 504.
func TestAckTimeout(t *testing.T) {
	s := openSource(t, map[string]string{KeyAckTimeout: "300ms", KeyStallTimeout: "1h"})
	r := wait(t, post(t, s, "application/json", "Bearer "+token, `{"a":1}`))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("unpolled: status %d; want 503", r.status)
	}
	if recs := s.take(); len(recs) != 0 {
		t.Fatalf("withdrawn request still queued")
	}
	ch := post(t, s, "application/json", "Bearer "+token, `{"a":2}`)
	pollUntil(t, s, 1)
	if r := wait(t, ch); r.status != http.StatusGatewayTimeout {
		t.Fatalf("polled, uncommitted: status %d; want 504", r.status)
	}
}

func TestBackpressure(t *testing.T) {
	s := openSource(t, map[string]string{KeyMaxQueued: "2", KeyStallTimeout: "1h"})
	first := post(t, s, "application/x-ndjson", "Bearer "+token, "{}\n{}\n")
	// Wait until the first request is queued.
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.mu.Lock()
		q := s.queued
		s.mu.Unlock()
		if q == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first request never queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := wait(t, post(t, s, "application/json", "Bearer "+token, `{}`)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("queue full: status %d; want 503", r.status)
	}
	recs := pollUntil(t, s, 2)
	s.Commit(context.Background(), []connectors.Position{recs[1].Position})
	if r := wait(t, first); r.status != 200 {
		t.Fatalf("first: %+v", r)
	}
}

func TestCloseFailsWaitingRequests(t *testing.T) {
	s := openSource(t, nil)
	ch := post(t, s, "application/json", "Bearer "+token, `{"a":1}`)
	pollUntil(t, s, 1)
	go s.Close(context.Background())
	if r := wait(t, ch); r.status != http.StatusGatewayTimeout {
		t.Fatalf("status %d; want 504 (outcome unknown)", r.status)
	}
}

// TestStallWhileWaiting: a request queued just before the worker stops
// polling (paused) is withdrawn with 503 once the stall is noticed, long
// before ack.timeout.
func TestStallWhileWaiting(t *testing.T) {
	s := openSource(t, map[string]string{KeyStallTimeout: "300ms", KeyAckTimeout: "1h"})
	s.touch() // the worker polled a moment ago, then paused
	r := wait(t, post(t, s, "application/json", "Bearer "+token, `{"a":1}`))
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body.Error, "paused") {
		t.Fatalf("got %d %+v; want 503 naming the pause", r.status, r.body)
	}
	if recs := s.take(); len(recs) != 0 {
		t.Fatalf("withdrawn request still queued")
	}
}

// TestGzipBodies: gzip bodies are accepted; the size limit applies after
// decompression (a compressed bomb gets 413); unknown encodings get 415.
func TestGzipBodies(t *testing.T) {
	s := openSource(t, map[string]string{KeyMaxBodyBytes: "1000"})
	stop := runWorker(t, s)
	gz := func(body string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(body))
		zw.Close()
		return b.String()
	}
	send := func(enc, body string) result {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/ingest", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r response
		_ = json.NewDecoder(resp.Body).Decode(&r)
		return result{status: resp.StatusCode, body: r}
	}
	if r := send("gzip", gz("{\"a\":1}\n{\"a\":2}\n")); r.status != 200 || r.body.Records != 2 {
		t.Fatalf("gzip body: %+v", r)
	}
	bomb := gz(strings.Repeat("{\"a\":1}\n", 1000)) // 8000 bytes unpacked, far fewer packed
	if r := send("gzip", bomb); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("bomb: %+v", r)
	}
	if r := send("gzip", "not gzip"); r.status != http.StatusBadRequest {
		t.Fatalf("bad gzip: %+v", r)
	}
	if r := send("br", "x"); r.status != http.StatusUnsupportedMediaType {
		t.Fatalf("brotli: %+v", r)
	}
	if got := stop(); len(got) != 2 {
		t.Fatalf("worker got %d records; want 2", len(got))
	}
}

// TestPathIsLiteral: the configured path is matched exactly, whatever
// characters it holds; other paths get 404.
func TestPathIsLiteral(t *testing.T) {
	s := openSource(t, map[string]string{KeyPath: "/hooks/{stripe}"})
	stop := runWorker(t, s)
	do := func(path string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+path, strings.NewReader(`{"a":1}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("/hooks/%7Bstripe%7D"); code != http.StatusOK {
		t.Errorf("configured path: %d", code)
	}
	if code := do("/hooks/other"); code != http.StatusNotFound {
		t.Errorf("other path: %d", code)
	}
	if got := stop(); len(got) != 1 {
		t.Fatalf("worker got %d records; want 1", len(got))
	}
}
