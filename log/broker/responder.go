package broker

import (
	"bufio"
	"sync"
	"time"
)

// future is one request's place in a connection's response order.
type future struct {
	frame []byte // encoded response; nil for none (acks=0)
	// fatal closes the connection once earlier responses are written.
	fatal bool
	// async: completed by a handler goroutine, which flushes at once
	// (the reader flushes when it runs out of buffered requests).
	async bool
	done  bool // under responder.mu
}

// responder writes a connection's responses in request order. There is no
// writer goroutine: whoever completes the oldest outstanding request —
// the reader for inline handlers (Produce among them), a handler goroutine
// for a long-poll Fetch — writes its response and every completed one
// queued behind it. A response therefore never waits for another goroutine
// to be scheduled (on a busy machine a wake-up can cost milliseconds, and
// every hand-off costs the runtime futex calls).
//
// Flushes: an async completion flushes at once; the reader holds its
// responses while whole requests are still buffered (pipelining) and
// flushes before it would block reading.
type responder struct {
	c     *conn
	slots chan struct{} // one per outstanding request: MaxInflightPerConnection

	mu        sync.Mutex
	queue     []*future // outstanding, oldest first
	bw        *bufio.Writer
	broken    bool
	deadline  time.Time // the write deadline last set
	unflushed bool
}

func newResponder(c *conn) *responder {
	return &responder{
		c:     c,
		slots: make(chan struct{}, c.b.cfg.MaxInflightPerConnection),
		bw:    bufio.NewWriterSize(c.nc, 64<<10),
	}
}

// add reserves f's place in the response order, waiting while
// MaxInflightPerConnection requests are outstanding. It reports false when
// the connection is closing.
func (r *responder) add(f *future) bool {
	select {
	case r.slots <- struct{}{}:
	default:
		// Full: flush what is held so that the client, and with it the
		// handlers still running, can make progress.
		r.flush()
		select {
		case r.slots <- struct{}{}:
		case <-r.c.ctx.Done():
			return false
		}
	}
	r.mu.Lock()
	r.queue = append(r.queue, f)
	r.mu.Unlock()
	return true
}

// complete marks f done and writes every completed response at the head
// of the queue.
func (r *responder) complete(f *future) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.done = true
	n := 0
	for ; n < len(r.queue) && r.queue[n].done; n++ {
		h := r.queue[n]
		r.queue[n] = nil
		r.write(h)
		<-r.slots
	}
	if n > 0 {
		r.queue = append(r.queue[:0], r.queue[n:]...)
	}
	if f.async {
		r.flushLocked()
	}
}

// write buffers one response (or closes the connection for a fatal one).
// Caller holds mu.
func (r *responder) write(f *future) {
	if !r.broken && f.frame != nil {
		r.c.b.metrics.bytesOut.Add(float64(len(f.frame)))
		r.refreshDeadline()
		if _, err := r.bw.Write(f.frame); err != nil {
			r.fail()
		} else {
			r.unflushed = true
		}
	}
	releaseFrame(f.frame)
	f.frame = nil
	if f.fatal && !r.broken {
		r.flushLocked()
		r.fail()
	}
}

// flush writes out held responses.
func (r *responder) flush() {
	r.mu.Lock()
	r.flushLocked()
	r.mu.Unlock()
}

func (r *responder) flushLocked() {
	if r.broken || !r.unflushed {
		return
	}
	r.unflushed = false
	r.refreshDeadline()
	if err := r.bw.Flush(); err != nil {
		r.fail()
	}
}

// refreshDeadline keeps the write deadline IdleTimeout ahead, without a
// runtime timer update per response: it moves only when it would come
// more than 1/16 of the timeout early.
func (r *responder) refreshDeadline() {
	idle := r.c.b.cfg.IdleTimeout
	want := time.Now().Add(idle)
	if want.Sub(r.deadline) > idle/16 {
		_ = r.c.nc.SetWriteDeadline(want)
		r.deadline = want
	}
}

// fail stops writing and closes the connection, which unblocks the reader
// and every handler; later completions only release their frames.
func (r *responder) fail() {
	r.broken = true
	r.c.close()
}
