// Package pgtest starts a throwaway PostgreSQL cluster for integration tests:
// a real server in another process, on a free 127.0.0.1 port, with logical
// replication enabled, that a test can stop, start again (same data directory,
// same port) and kill with SIGKILL.
//
// The server binaries come from $PGTEST_BIN_DIR, or from
// /usr/lib/postgresql/15/bin, or from the directory `pg_config --bindir`
// reports. When they are missing the test is skipped with a message that says
// so. PostgreSQL refuses to run as root, so when the test runs as root the
// cluster's directory is handed to the `postgres` user and the server runs as
// that user.
//
// fsync and full_page_writes are off: they only protect against an operating
// system crash, which no test simulates. synchronous_commit stays on, so a
// commit that returned survives Kill (a process crash).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where Debian's postgresql-15 package installs the server.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// StartTimeout bounds how long Start waits for the server to accept queries.
const StartTimeout = 60 * time.Second

// PG is one throwaway PostgreSQL cluster. Its data directory and port survive
// Stop and Kill, so a test can take the database away and bring it back.
type PG struct {
	t       testing.TB
	binDir  string
	Dir     string // owns everything: data/, postgres.log
	DataDir string
	Port    int
	User    string // database superuser

	settings map[string]string
	cred     *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Option adjusts a cluster before it starts.
type Option func(*PG)

// Setting sets a server configuration parameter (postgres -c name=value),
// overriding pgtest's defaults.
func Setting(name, value string) Option {
	return func(p *PG) { p.settings[name] = value }
}

// Start initialises a fresh cluster, starts it and registers cleanup that
// stops it and removes its files when the test ends. It skips the test when
// the PostgreSQL binaries are not installed.
func Start(t testing.TB, opts ...Option) *PG {
	t.Helper()
	binDir, err := findBinDir()
	if err != nil {
		t.Skipf("pgtest: %v", err)
	}
	p := &PG{t: t, binDir: binDir, User: "postgres", settings: defaultSettings()}
	for _, o := range opts {
		o(p)
	}
	if os.Geteuid() == 0 {
		cred, err := postgresCredential()
		if err != nil {
			t.Skipf("pgtest: running as root and %v; PostgreSQL refuses to run as root", err)
		}
		p.cred = cred
	}

	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	p.Dir = dir
	p.DataDir = filepath.Join(dir, "data")
	t.Cleanup(func() {
		p.shutdown(syscall.SIGQUIT) // immediate: the files are removed next
		_ = os.RemoveAll(dir)
	})
	if p.cred != nil {
		if err := os.Chown(dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			t.Fatalf("pgtest: chown %s: %v", dir, err)
		}
	}
	p.Port = freePort(t)
	p.initdb()
	p.Start()
	return p
}

func defaultSettings() map[string]string {
	return map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": "",
		"fsync":                   "off",
		"full_page_writes":        "off",
		"synchronous_commit":      "on",
		"wal_level":               "logical",
		"max_replication_slots":   "16",
		"max_wal_senders":         "16",
		"max_connections":         "100",
		"shared_buffers":          "64MB",
		"log_min_messages":        "warning",
		"log_line_prefix":         "%m [%p] ",
		"timezone":                "UTC",
	}
}

// findBinDir locates a directory holding initdb and postgres.
func findBinDir() (string, error) {
	var tried []string
	try := func(dir string) bool {
		if dir == "" {
			return false
		}
		tried = append(tried, dir)
		for _, name := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PGTEST_BIN_DIR"); try(d) {
		return d, nil
	}
	if try(DefaultBinDir) {
		return DefaultBinDir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); try(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in %s; install postgresql-15 or set PGTEST_BIN_DIR",
		strings.Join(tried, ", "))
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("no user 'postgres' to run the server as: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// command builds an exec.Cmd that runs a PostgreSQL binary as the server's
// user, in the cluster directory, in its own process group (so Kill can take
// down the postmaster and every backend at once, like a machine crash would).
func (p *PG) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.binDir, name), args...)
	cmd.Dir = p.Dir
	env := []string{"LC_ALL=C", "LANG=C", "TZ=UTC", "HOME=" + p.Dir}
	if path := os.Getenv("PATH"); path != "" {
		env = append(env, "PATH="+path)
	}
	cmd.Env = env
	cmd.SysProcAttr = sysProcAttr(p.cred)
	return cmd
}

func (p *PG) initdb() {
	p.t.Helper()
	cmd := p.command("initdb", "-D", p.DataDir, "-U", p.User, "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
}

// DSN is a connection string for the cluster's postgres database.
func (p *PG) DSN() string { return p.DSNFor("postgres") }

// DSNFor is a connection string for the named database.
func (p *PG) DSNFor(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", p.User, p.Port, database)
}

// ReplicationDSN is a connection string for a logical replication connection
// (replication=database) to the named database.
func (p *PG) ReplicationDSN(database string) string {
	return p.DSNFor(database) + "&replication=database"
}

// LogPath is the server log file; tests print it when something fails.
func (p *PG) LogPath() string { return filepath.Join(p.Dir, "postgres.log") }

// Log returns the tail (last 8 KiB) of the server log.
func (p *PG) Log() string {
	b, _ := os.ReadFile(p.LogPath())
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// Running reports whether the server process is up.
func (p *PG) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Start starts a stopped or killed cluster again on the same port and data
// directory and waits until it accepts queries. (The package-level Start
// creates the cluster; this method brings it back.)
func (p *PG) Start() {
	p.t.Helper()
	if p.Running() {
		return
	}
	deadline := time.Now().Add(StartTimeout)
	for attempt := 1; ; attempt++ {
		err := p.startOnce(deadline)
		if err == nil {
			return
		}
		// After Kill, orphaned backends may hold the old shared memory
		// segment for a moment; the postmaster refuses to start until they
		// are gone. Try again until the deadline.
		if errors.Is(err, errRetryStart) && time.Now().Before(deadline) {
			time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
			continue
		}
		p.t.Fatalf("pgtest: start: %v\n--- server log ---\n%s", err, p.Log())
	}
}

var errRetryStart = errors.New("server exited during startup with a transient error")

func (p *PG) startOnce(deadline time.Time) error {
	logf, err := os.OpenFile(p.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close() // the child has its own copy
	mark, _ := logf.Seek(0, 2)

	args := []string{"-D", p.DataDir, "-p", strconv.Itoa(p.Port)}
	names := make([]string, 0, len(p.settings))
	for k := range p.settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+p.settings[k])
	}
	cmd := p.command("postgres", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(p.LogPath())
			if int64(len(b)) > mark {
				b = b[mark:]
			}
			if bytes.Contains(b, []byte("still in use")) || bytes.Contains(b, []byte("could not bind")) {
				return fmt.Errorf("%w: %s", errRetryStart, bytes.TrimSpace(b))
			}
			return fmt.Errorf("postgres exited early: %s", bytes.TrimSpace(b))
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			return fmt.Errorf("not accepting queries on port %d after %v", p.Port, StartTimeout)
		case <-time.After(25 * time.Millisecond):
		}
		if p.ping(ctx) == nil {
			p.mu.Lock()
			p.cmd, p.done = cmd, done
			p.mu.Unlock()
			return nil
		}
	}
}

func (p *PG) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// Stop shuts the server down in "fast" mode: open transactions are rolled
// back, sessions are disconnected, a checkpoint is written. It waits for the
// server to exit. Stopping a stopped cluster does nothing.
func (p *PG) Stop() { p.shutdown(syscall.SIGINT) }

// Kill sends SIGKILL to the postmaster and every backend (a crash: no
// checkpoint; committed transactions survive, recovery replays the WAL on the
// next Start).
func (p *PG) Kill() { p.shutdown(syscall.SIGKILL) }

// Restart stops the server (fast) and starts it again.
func (p *PG) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}

func (p *PG) shutdown(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pid := cmd.Process.Pid
	if sig == syscall.SIGKILL {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	} else {
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
}
