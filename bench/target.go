package bench

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// Target is one system under test. A run calls Setup once (a fresh topic or
// stream), then creates producers and consumers, then Teardown.
type Target interface {
	// Name labels results ("sluice", "kafka", "jetstream").
	Name() string
	// Setup creates what the run writes to, with cfg.Partitions partitions.
	Setup(ctx context.Context, cfg Config) error
	// NewProducer returns a producer that calls onAck exactly once per
	// record Send accepted, with the send time given to Send and the outcome.
	NewProducer(ctx context.Context, cfg Config, onAck AckFunc) (Producer, error)
	// NewConsumer returns a consumer reading everything written since Setup.
	NewConsumer(ctx context.Context, cfg Config) (Consumer, error)
	// Notes lists how this target interprets cfg where it differs from Kafka
	// semantics (settings it ignores, for instance).
	Notes(cfg Config) []string
	// Teardown removes what Setup created.
	Teardown(ctx context.Context) error
}

// AckFunc learns that the record with payload, sent at sent, was
// acknowledged (err nil) or failed; the payload is the caller's again. It
// may be called concurrently and must not block.
type AckFunc func(payload []byte, sent time.Time, err error)

// Producer sends payloads asynchronously. One goroutine calls Send and
// Flush; acknowledgements may arrive on others.
type Producer interface {
	// Send queues one payload sent at sent; it blocks while the producer's
	// buffer of unacknowledged records is full, or until ctx is done. The
	// payload must stay unchanged until acknowledged; it may be shared by
	// many records. When Send returns an error, onAck is not called.
	Send(ctx context.Context, payload []byte, sent time.Time) error
	// Flush waits until every sent payload was acknowledged or failed.
	Flush(ctx context.Context) error
	Close()
}

// Consumer delivers payloads in one goroutine.
type Consumer interface {
	// Run calls fn for every payload until fn returns false, ctx is done or
	// the consumer fails.
	Run(ctx context.Context, fn func(payload []byte) bool) error
	Close()
}

// payloads makes record values: random letters, like
// kafka-producer-perf-test, compressible about as much as text, so
// --compression results are not flattered by zeros. Throughput runs share
// one read-only value; e2e runs stamp each value with its send time, which
// the consumer reads back, in buffers recycled once acknowledged.
type payloads struct {
	filler []byte
	free   bufStack
}

func newPayloads(size int) *payloads {
	p := &payloads{filler: make([]byte, size)}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range p.filler {
		p.filler[i] = byte('A' + r.IntN(26))
	}
	return p
}

// shared returns the value every throughput record carries.
func (p *payloads) shared() []byte { return p.filler }

// stamped returns a value carrying now in its first 8 bytes. Only one
// goroutine may call it.
func (p *payloads) stamped(now time.Time) []byte {
	b := p.free.pop()
	if b == nil {
		b = make([]byte, len(p.filler))
		copy(b, p.filler)
	}
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	return b
}

// release takes back a stamped value once its record is acknowledged;
// the shared value is ignored. Any goroutine may call it.
func (p *payloads) release(b []byte) {
	if len(b) == len(p.filler) && len(b) > 0 && &b[0] != &p.filler[0] {
		p.free.push(b)
	}
}

// bufStack hands buffers from goroutines that release them to the one that
// takes them, meeting on the mutex once per batch rather than per buffer.
type bufStack struct {
	local [][]byte // the taking goroutine only

	mu     sync.Mutex
	shared [][]byte
}

func (s *bufStack) pop() []byte {
	if len(s.local) == 0 {
		s.mu.Lock()
		s.local, s.shared = s.shared, s.local[:0]
		s.mu.Unlock()
		if len(s.local) == 0 {
			return nil
		}
	}
	b := s.local[len(s.local)-1]
	s.local = s.local[:len(s.local)-1]
	return b
}

func (s *bufStack) push(b []byte) {
	s.mu.Lock()
	s.shared = append(s.shared, b)
	s.mu.Unlock()
}

// sentAt decodes a payload's send time; ok is false for foreign payloads.
func sentAt(b []byte) (time.Time, bool) {
	if len(b) < minRecordSize {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))), true
}

// pacer spaces sends to a fixed rate measured from its start, so a late
// send is followed by catch-up sends instead of a permanently lower rate.
type pacer struct {
	perSec float64
	start  time.Time
	n      int64
	now    time.Time // unpaced: the clock read last
}

// unpacedClockEvery is how many unpaced sends share one clock read. A
// clock read costs about as much as a sixth of kgo's whole Produce call,
// and the one producing goroutine is the bottleneck of a produce run; the
// records sharing a reading are sent within a few microseconds of it, so
// their latencies err high by at most that.
const unpacedClockEvery = 16

// wait blocks until the next send is due and returns the current time.
// With no rate it returns at once (with the time read at most
// unpacedClockEvery sends ago).
func (p *pacer) wait(ctx context.Context) (time.Time, error) {
	if p.perSec <= 0 {
		if p.n%unpacedClockEvery == 0 {
			p.now = time.Now()
		}
		p.n++
		return p.now, nil
	}
	now := time.Now()
	due := p.start.Add(time.Duration(float64(p.n) / p.perSec * float64(time.Second)))
	p.n++
	if d := due.Sub(now); d > 0 {
		if d > 5*time.Millisecond {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return now, ctx.Err()
			case <-t.C:
			}
		} else {
			time.Sleep(d)
		}
		now = time.Now()
	}
	return now, nil
}
