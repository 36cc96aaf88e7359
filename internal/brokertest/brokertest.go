// Package brokertest starts a real `sluice serve` process on a free
// 127.0.0.1 port for integration tests, so that tests exercise the broker
// exactly as users run it: through the Kafka protocol, in another process,
// killable with SIGKILL.
//
// The binary comes from $SLUICE_BIN (set by `make test`) or is built once
// per test process with `go build`.
package brokertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Broker is one running (or stopped) `sluice serve` process. Its data
// directory and port survive Restart, so a test can kill it and reopen the
// same log.
type Broker struct {
	t       testing.TB
	bin     string
	DataDir string
	Addr    string // host:port clients dial
	Args    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *SyncBuffer
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// Binary returns the path of a sluice binary: $SLUICE_BIN when set,
// otherwise one built from this checkout into a temporary directory.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLUICE_BIN"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "sluice-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "sluice")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/sluice")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("brokertest: %v", buildErr)
	}
	return builtBin
}

// FreePort returns a 127.0.0.1 address with a port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("brokertest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs `sluice serve` with a fresh data directory on a free port and
// stops it when the test ends. extra arguments are appended to the command.
func Start(t testing.TB, extra ...string) *Broker {
	t.Helper()
	b := &Broker{
		t:       t,
		bin:     Binary(t),
		DataDir: t.TempDir(),
		Addr:    FreePort(t),
		Args:    extra,
	}
	b.start()
	t.Cleanup(func() { b.Stop() })
	return b
}

func (b *Broker) start() {
	b.t.Helper()
	args := append([]string{"serve", "--data-dir", b.DataDir, "--listen", b.Addr}, b.Args...)
	cmd := exec.Command(b.bin, args...)
	out := &SyncBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("brokertest: start %s: %v", b.bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.mu.Lock()
	b.cmd, b.done, b.out = cmd, done, out
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		select {
		case <-done:
			b.t.Fatalf("brokertest: sluice serve exited early:\n%s", out.String())
		case <-ctx.Done():
			b.t.Fatalf("brokertest: sluice serve not listening on %s after 30s:\n%s", b.Addr, out.String())
		case <-time.After(20 * time.Millisecond):
		}
		c, err := net.DialTimeout("tcp", b.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
	}
}

// Kill sends SIGKILL and waits for the process to exit.
func (b *Broker) Kill() { b.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (graceful shutdown) and waits up to 30s, then SIGKILL.
func (b *Broker) Stop() { b.signal(syscall.SIGTERM) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts the broker again on the same address and data directory.
func (b *Broker) Restart() {
	b.t.Helper()
	b.Stop()
	b.start()
}

// StartAgain starts a stopped or killed broker on the same address and data
// directory.
func (b *Broker) StartAgain() {
	b.t.Helper()
	b.start()
}

// Output returns what the process has written to stdout and stderr so far.
func (b *Broker) Output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.out == nil {
		return ""
	}
	return b.out.String()
}

// SyncBuffer is a bytes.Buffer safe for one writer (a child process's
// output copier) and concurrent readers (a test polling the output).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
