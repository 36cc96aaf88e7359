package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/wire"
)

// future is one request's place in a connection's response order.
type future struct {
	done  chan struct{}
	frame []byte // encoded response; nil for none (acks=0)
	// fatal closes the connection once earlier responses are written.
	fatal bool
}

// maxAsyncFrame bounds the request frames a connection hands to handler
// goroutines (each keeps its frame): a larger blocking request, which no real
// client sends, runs on the reader instead, so pipelining cannot multiply
// memory by MaxInflightPerConnection with huge frames.
const maxAsyncFrame = 1 << 20

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// conn is one client connection.
type conn struct {
	b      *Broker
	nc     net.Conn
	remote string
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *future
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	return &conn{
		b:      b,
		nc:     nc,
		remote: nc.RemoteAddr().String(),
		ctx:    ctx,
		cancel: cancel,
		queue:  make(chan *future, b.cfg.MaxInflightPerConnection),
	}
}

// close makes the reader and writer stop; serve returns once both have.
func (c *conn) close() {
	c.cancel()
	_ = c.nc.Close()
}

// serve runs the connection until the client leaves, a frame is bad, or the
// broker closes. It owns the writer goroutine and every async handler it
// starts (they all observe c.ctx and finish their futures).
func (c *conn) serve() {
	c.b.metrics.connsOpened.Inc()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.writeLoop() }()
	c.readLoop(&wg)
	close(c.queue)
	wg.Wait()
	c.close()
}

func (c *conn) readLoop(handlers *sync.WaitGroup) {
	fr := wire.NewFrameReader(c.nc, c.b.cfg.MaxRequestBytes)
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.b.cfg.IdleTimeout))
		frame, err := fr.Next()
		if err != nil {
			c.logReadError(err)
			return
		}
		c.b.metrics.bytesIn.Add(float64(len(frame) + 4))
		h, body, err := wire.ParseHeader(frame)
		if err != nil {
			c.b.metrics.badRequests.Inc()
			c.b.log.Warn("closing connection: bad request header", "remote", c.remote, "api", h.APIName(), "version", h.Version, "err", err)
			return
		}
		f := &future{done: make(chan struct{})}
		select {
		case c.queue <- f:
		case <-c.ctx.Done():
			return
		}
		spec := apiFor(h.Key)
		if spec == nil || h.Version < spec.min || h.Version > spec.max {
			if h.Key == apiVersionsKey {
				// KIP-511: answer an unknown ApiVersions version with
				// v0 and the supported range so the client retries.
				resp := c.b.apiVersionsResponse()
				resp.SetVersion(0)
				resp.ErrorCode = kerr.UnsupportedVersion.Code
				c.finish(f, h, resp)
				continue
			}
			c.b.metrics.badRequests.Inc()
			c.b.log.Warn("closing connection: unsupported api version", "remote", c.remote, "api", h.APIName(), "version", h.Version, "client", h.ClientID)
			f.fatal = true
			close(f.done)
			return
		}
		req, err := wire.DecodeBody(h, body)
		if err != nil {
			c.b.metrics.badRequests.Inc()
			c.b.log.Warn("closing connection: malformed request", "remote", c.remote, "api", h.APIName(), "version", h.Version, "client", h.ClientID, "err", err)
			f.fatal = true
			close(f.done)
			return
		}
		if spec.async != nil && spec.async(req) && len(frame) <= maxAsyncFrame {
			// The request's byte fields alias the frame: the handler owns
			// it now, and the reader takes a fresh buffer.
			fr.Detach()
			handlers.Add(1)
			go func() {
				defer handlers.Done()
				c.handle(f, h, spec, req)
			}()
			continue
		}
		if !c.handle(f, h, spec, req) {
			return
		}
	}
}

func (c *conn) logReadError(err error) {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), c.ctx.Err() != nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.b.log.Info("closing idle connection", "remote", c.remote, "idle_timeout", c.b.cfg.IdleTimeout)
	case errors.Is(err, wire.ErrFrameTooLarge), errors.Is(err, wire.ErrFrameTooSmall):
		c.b.metrics.badRequests.Inc()
		c.b.log.Warn("closing connection: bad frame", "remote", c.remote, "err", err)
	default:
		c.b.log.Info("closing connection: read failed", "remote", c.remote, "err", err)
	}
}

// handle runs one request and completes its future. It reports false when
// the connection must close. A panic in a handler is a bug: it is logged
// with its stack and closes only this connection.
func (c *conn) handle(f *future, h wire.Header, spec *apiSpec, req kmsg.Request) (ok bool) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			c.b.log.Error("closing connection: handler panic", "remote", c.remote, "api", h.APIName(), "version", h.Version, "panic", r, "stack", string(debug.Stack()))
			f.frame, f.fatal = nil, true
			close(f.done)
			ok = false
		}
	}()
	resp, err := spec.handle(c, h, req)
	c.b.metrics.observe(h.Key, time.Since(start))
	if err != nil {
		c.b.log.Warn("closing connection", "remote", c.remote, "api", h.APIName(), "version", h.Version, "err", err)
		f.fatal = true
		close(f.done)
		return false
	}
	c.finish(f, h, resp)
	return true
}

// finish encodes resp (nil means no response) and releases the future.
func (c *conn) finish(f *future, h wire.Header, resp kmsg.Response) {
	if resp != nil {
		if resp.GetVersion() != h.Version && h.Key != apiVersionsKey {
			resp.SetVersion(h.Version)
		}
		bp := framePool.Get().(*[]byte)
		f.frame = wire.AppendResponse((*bp)[:0], h.CorrelationID, resp)
	}
	close(f.done)
}

// writeLoop writes responses in request order. It flushes whenever it would
// otherwise wait (for the next request or for a handler still working), so a
// burst of pipelined responses goes out in one write.
func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	broken := false
	flush := func() {
		if !broken && bw.Buffered() > 0 {
			if err := bw.Flush(); err != nil {
				broken = true
				c.close()
			}
		}
	}
	for {
		var f *future
		var ok bool
		select {
		case f, ok = <-c.queue:
		default:
			flush()
			f, ok = <-c.queue
		}
		if !ok {
			flush()
			return
		}
		select {
		case <-f.done:
		default:
			flush()
			<-f.done
		}
		if broken {
			releaseFrame(f.frame)
			continue
		}
		if f.frame != nil {
			c.b.metrics.bytesOut.Add(float64(len(f.frame)))
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.b.cfg.IdleTimeout))
			if _, err := bw.Write(f.frame); err != nil {
				broken = true
			}
			releaseFrame(f.frame)
		}
		if f.fatal {
			flush()
			broken = true
		}
		if broken {
			// Unblock the reader and any handler; keep draining so
			// nothing waits on a full queue.
			c.close()
		}
	}
}

func releaseFrame(b []byte) {
	if b == nil || cap(b) > 1<<20 {
		return
	}
	b = b[:0]
	framePool.Put(&b)
}

// errClose is returned by handlers that must close the connection (for
// example acks=0 produce failures, which have no response to carry them).
var errClose = errors.New("closing connection")

func closeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errClose}, args...)...)
}
