// Package httpsrc is a source connector that runs an HTTP server: clients
// (devices, payment gateways, webhooks) POST JSON or NDJSON and get 200 only
// once their records are durably in the log.
//
// A request is all or nothing. Its body is validated whole before anything
// is queued, so a 4xx means nothing of it was written. Once queued, the
// handler waits for the worker's Commit of the request's records and then
// answers 200. When the worker is paused or backed up the server answers 503
// (nothing written, safe to retry); if the records were handed to the log
// but not confirmed in time it answers 504, whose outcome is unknown (a
// retry may duplicate: send an Idempotency-Key and forward it with
// headers.forward so consumers can drop duplicates).
package httpsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// Plugin is the name users put in connector.class.
const Plugin = "http-source"

func init() {
	connectors.Register(connectors.Plugin{
		Name: Plugin,
		Kind: connectors.KindSource,
		Doc: "An HTTP server accepting POSTed JSON or NDJSON (bearer-token auth, body limits); " +
			"answers 200 only once the records are durably in the log, 4xx with a reason for bad bodies, 503 when paused or backed up.",
		Spec:      Spec,
		NewSource: func() connectors.Source { return NewSource() },
	})
}

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("http source closed")

// positionPartition is the source partition of every record: the
// sequence number orders records as they are handed to the worker.
const positionPartition = "http"

// request is one accepted body waiting for its records to be committed.
type request struct {
	recs    []connectors.Record
	lastSeq uint64
	polled  bool
	done    chan struct{} // closed once committed or failed
	failed  bool          // set (before done) when the source closes first
}

// Source is one HTTP source task.
type Source struct {
	cfg *config
	log *slog.Logger
	srv *http.Server
	ln  net.Listener

	mu       sync.Mutex
	queue    []*request // accepted, not yet polled
	queued   int        // records in queue
	inflight []*request // polled, not yet committed, in seq order
	seq      uint64
	lastPoll time.Time
	closed   bool
	wake     chan struct{} // capacity 1: a request was queued
	closing  chan struct{} // closed by Close
	serveErr chan error

	closeOnce sync.Once
	closeErr  error
}

// NewSource returns an unopened source; the worker calls Open.
func NewSource() *Source { return &Source{} }

var _ connectors.Source = (*Source)(nil)

// Open binds the listener and starts serving.
func (s *Source) Open(ctx context.Context, task connectors.TaskInfo, raw connectors.Config, committed connectors.Positions) error {
	s.cfg = parseConfig(raw)
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.wake = make(chan struct{}, 1)
	s.closing = make(chan struct{})
	s.serveErr = make(chan error, 1)
	s.lastPoll = time.Now()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.listen)
	if err != nil {
		return connectors.Retriable(fmt.Errorf("http source listen on %s: %w", s.cfg.listen, err))
	}
	s.ln = ln
	// No ServeMux: its patterns give meaning to characters ("{", "...",
	// a method prefix) that a configured path may contain. serveIngest
	// matches the path exactly.
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveIngest),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	s.log.Info("http source listening", "addr", ln.Addr().String(), "path", s.cfg.path)
	return nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Source) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// enqueue queues a request's records for the worker, or reports why not.
func (s *Source) enqueue(r *request) (status int, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return http.StatusServiceUnavailable, "connector is stopping"
	case s.stalledLocked():
		return http.StatusServiceUnavailable, "connector is paused or backed up"
	case s.queued+len(r.recs) > s.cfg.maxQueued && s.queued > 0:
		return http.StatusServiceUnavailable, "too many records waiting for the log"
	}
	s.queue = append(s.queue, r)
	s.queued += len(r.recs)
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return 0, ""
}

// stalled reports whether the worker has not polled for stall.timeout.
func (s *Source) stalled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stalledLocked()
}

func (s *Source) stalledLocked() bool { return time.Since(s.lastPoll) > s.cfg.stallTimeout }

// withdraw takes a request back out of the queue if the worker has not
// polled it; it reports whether it did (and so nothing was written).
func (s *Source) withdraw(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.polled {
		return false
	}
	for i, q := range s.queue {
		if q == r {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			s.queued -= len(r.recs)
			return true
		}
	}
	return false
}

// Poll hands the worker whole queued requests, up to batch.size records.
func (s *Source) Poll(ctx context.Context) ([]connectors.Record, error) {
	if s.closing == nil {
		return nil, ErrClosed // never opened
	}
	select {
	case <-s.closing:
		return nil, ErrClosed
	default:
	}
	if out := s.take(); out != nil {
		return out, nil
	}
	timer := time.NewTimer(s.cfg.pollWait)
	defer timer.Stop()
	select {
	case <-s.wake:
		return s.take(), nil
	case <-timer.C:
		s.touch()
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, ErrClosed
	}
}

func (s *Source) touch() {
	s.mu.Lock()
	s.lastPoll = time.Now()
	s.mu.Unlock()
}

func (s *Source) take() []connectors.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastPoll = time.Now()
	var out []connectors.Record
	n := 0
	for n < len(s.queue) {
		r := s.queue[n]
		if len(out) > 0 && len(out)+len(r.recs) > s.cfg.batchSize {
			break
		}
		for i := range r.recs {
			s.seq++
			r.recs[i].Position = connectors.Position{
				Partition: positionPartition,
				Offset:    []byte(`{"seq":` + strconv.FormatUint(s.seq, 10) + `}`),
			}
		}
		r.lastSeq = s.seq
		r.polled = true
		s.inflight = append(s.inflight, r)
		s.queued -= len(r.recs)
		out = append(out, r.recs...)
		n++
	}
	clear(s.queue[:n])
	s.queue = s.queue[n:]
	return out
}

// Commit releases the handlers of requests whose records are all in the log.
func (s *Source) Commit(ctx context.Context, positions []connectors.Position) error {
	var upTo uint64
	for _, p := range positions {
		if p.Partition != positionPartition {
			continue
		}
		seq, err := parseSeq(p.Offset)
		if err != nil {
			return fmt.Errorf("commit position %s: %w", p.Partition, err)
		}
		upTo = max(upTo, seq)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.inflight) && s.inflight[n].lastSeq <= upTo {
		close(s.inflight[n].done)
		n++
	}
	clear(s.inflight[:n])
	s.inflight = s.inflight[n:]
	return nil
}

// Close stops accepting requests, fails the ones still waiting and shuts the
// server down. It is safe to call more than once.
func (s *Source) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { s.closeErr = s.close(ctx) })
	return s.closeErr
}

func (s *Source) close(ctx context.Context) error {
	if s.srv == nil {
		return nil // never opened
	}
	s.mu.Lock()
	s.closed = true
	close(s.closing)
	for _, r := range s.queue {
		r.failed = true
		close(r.done)
	}
	for _, r := range s.inflight {
		r.failed = true
		close(r.done)
	}
	s.queue, s.inflight, s.queued = nil, nil, 0
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		s.log.Warn("http source server", "error", serr)
	}
	return err
}

// parseSeq reads the sequence number of a position offset ({"seq":N}).
func parseSeq(raw []byte) (uint64, error) {
	var p struct {
		Seq *uint64 `json:"seq"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return 0, err
	}
	if p.Seq == nil {
		return 0, errors.New(`position has no "seq"`)
	}
	return *p.Seq, nil
}
