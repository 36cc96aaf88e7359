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
	resp   *responder
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	c := &conn{
		b:      b,
		nc:     nc,
		remote: nc.RemoteAddr().String(),
		ctx:    ctx,
		cancel: cancel,
	}
	c.resp = newResponder(c)
	return c
}

// close makes the reader and writer stop; serve returns once both have.
func (c *conn) close() {
	c.cancel()
	_ = c.nc.Close()
}

// serve runs the connection until the client leaves, a frame is bad, or the
// broker closes. It owns every async handler it starts (they all observe
// c.ctx and complete their futures); responses still owed are written
// before the connection closes.
func (c *conn) serve() {
	c.b.metrics.connsOpened.Inc()
	var wg sync.WaitGroup
	c.readLoop(&wg)
	wg.Wait()
	c.resp.flush()
	c.close()
}

// readBufferBytes is the connection's read buffer: a small request and
// its size prefix, or several pipelined ones, arrive in one read.
const readBufferBytes = 64 << 10

func (c *conn) readLoop(handlers *sync.WaitGroup) {
	fr := wire.NewFrameReader(bufio.NewReaderSize(c.nc, readBufferBytes), c.b.cfg.MaxRequestBytes)
	idle := c.b.cfg.IdleTimeout
	var deadline time.Time
	for {
		if !fr.Buffered() {
			// About to wait for the client: send what is held first.
			c.resp.flush()
			// Keep the idle deadline IdleTimeout ahead; moving it costs
			// a runtime timer update, so only when it drifted by 1/16.
			if want := time.Now().Add(idle); want.Sub(deadline) > idle/16 {
				_ = c.nc.SetReadDeadline(want)
				deadline = want
			}
		}
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
		f := &future{}
		if !c.resp.add(f) {
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
			c.resp.complete(f)
			return
		}
		req, err := wire.DecodeBody(h, body)
		if err != nil {
			c.b.metrics.badRequests.Inc()
			c.b.log.Warn("closing connection: malformed request", "remote", c.remote, "api", h.APIName(), "version", h.Version, "client", h.ClientID, "err", err)
			f.fatal = true
			c.resp.complete(f)
			return
		}
		if spec.async != nil && spec.async(req) && len(frame) <= maxAsyncFrame {
			// The request's byte fields alias the frame: the handler owns
			// it now, and the reader takes a fresh buffer.
			fr.Detach()
			f.async = true
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
			c.resp.complete(f)
			ok = false
		}
	}()
	resp, err := spec.handle(c, h, req)
	c.b.metrics.observe(h.Key, time.Since(start))
	if err != nil {
		c.b.log.Warn("closing connection", "remote", c.remote, "api", h.APIName(), "version", h.Version, "err", err)
		f.fatal = true
		c.resp.complete(f)
		return false
	}
	c.finish(f, h, resp)
	return true
}

// finish encodes resp (nil means no response) and completes the future.
func (c *conn) finish(f *future, h wire.Header, resp kmsg.Response) {
	if resp != nil {
		if resp.GetVersion() != h.Version && h.Key != apiVersionsKey {
			resp.SetVersion(h.Version)
		}
		bp := framePool.Get().(*[]byte)
		f.frame = wire.AppendResponse((*bp)[:0], h.CorrelationID, resp)
	}
	c.resp.complete(f)
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
