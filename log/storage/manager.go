package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Manager holds every partition log under one data directory, each in
// <dataDir>/<topic>-<partition>/, sharing one file-handle cache, and runs
// their background maintenance.
type Manager struct {
	dataDir  string
	opt      Options
	cache    *fileCache
	metrics  *metrics
	flushSem chan struct{} // bounds background segment flushes across partitions
	lock     *os.File      // flock'd: one process per data directory

	mu     sync.Mutex
	logs   map[TopicPartition]*Log
	closed bool
}

// OpenManager opens (creating if needed) a data directory. Partitions are
// opened one by one with Open; OnDisk lists those found.
func OpenManager(dataDir string, opt Options) (*Manager, error) {
	opt = opt.withDefaults()
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dataDir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("data directory %s is in use by another process: %w", dataDir, err)
	}
	// Directories of deleted partitions that were not fully removed.
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), deletedPrefix) {
			if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
				lock.Close()
				return nil, fmt.Errorf("remove deleted partition %s: %w", e.Name(), err)
			}
		}
	}
	cache := newFileCache(opt.MaxOpenFiles)
	cache.reserve(1) // the lock
	m := &Manager{dataDir: dataDir, opt: opt, cache: cache, metrics: newMetrics(opt.Registerer, cache), lock: lock,
		flushSem: make(chan struct{}, opt.MaxConcurrentFlushes), logs: map[TopicPartition]*Log{}}
	if opt.Registerer != nil {
		if err := opt.Registerer.Register(newPartitionCollector(m)); err != nil {
			lock.Close()
			return nil, fmt.Errorf("register storage metrics: %w", err)
		}
	}
	return m, nil
}

// deletedPrefix names a partition directory being deleted. It is short
// and fixed so the rename works even for 249-character topic names.
const deletedPrefix = ".deleted-"

// ErrInvalidTopic: a topic name that cannot be a directory name.
var ErrInvalidTopic = errors.New("invalid topic name")

// validTopic applies Kafka's topic-name rules ([a-zA-Z0-9._-], 1-249
// chars, not "." or ".."), which also make the name a safe directory name.
func validTopic(t string) error {
	if t == "" || len(t) > 249 || t == "." || t == ".." {
		return fmt.Errorf("%q: %w", t, ErrInvalidTopic)
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q: character %q not allowed: %w", t, c, ErrInvalidTopic)
		}
	}
	return nil
}

func (m *Manager) dir(tp TopicPartition) string {
	return filepath.Join(m.dataDir, tp.Topic+"-"+strconv.Itoa(int(tp.Partition)))
}

// Open returns the partition's log, opening (and recovering) it or
// creating it with cfg. An already open log gets cfg applied.
func (m *Manager) Open(tp TopicPartition, cfg Config) (*Log, error) {
	if err := validTopic(tp.Topic); err != nil {
		return nil, err
	}
	if tp.Partition < 0 {
		return nil, fmt.Errorf("partition %s: negative partition", tp)
	}
	if n := len(filepath.Base(m.dir(tp))); n > 255 {
		return nil, fmt.Errorf("partition %s: directory name of %d bytes exceeds the file system's 255: %w", tp, n, ErrInvalidTopic)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("partition %s: %w", tp, ErrClosed)
	}
	if l := m.logs[tp]; l != nil {
		l.SetConfig(cfg)
		return l, nil
	}
	l, err := openLog(m.dir(tp), cfg, m.opt, m.cache, m.metrics, m.flushSem)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", tp, err)
	}
	m.logs[tp] = l
	return l, nil
}

// Get returns the open log for tp, or nil.
func (m *Manager) Get(tp TopicPartition) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[tp]
}

// Delete closes the partition's log and removes its directory. The
// directory is renamed first, so a crash mid-removal never leaves a
// half-deleted partition that would be opened again.
func (m *Manager) Delete(tp TopicPartition) error {
	if err := validTopic(tp.Topic); err != nil {
		return err
	}
	m.mu.Lock()
	l := m.logs[tp]
	delete(m.logs, tp)
	m.mu.Unlock()
	if l != nil {
		l.closeNoFlush()
	}
	dir := m.dir(tp)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	tomb := filepath.Join(m.dataDir, fmt.Sprintf("%s%d", deletedPrefix, time.Now().UnixNano()))
	if err := os.Rename(dir, tomb); err != nil {
		return fmt.Errorf("delete partition %s: %w", tp, err)
	}
	if err := syncDir(m.dataDir); err != nil {
		return fmt.Errorf("delete partition %s: %w", tp, err)
	}
	if err := os.RemoveAll(tomb); err != nil {
		return fmt.Errorf("delete partition %s: %w", tp, err)
	}
	return nil
}

// OnDisk lists the partition directories in the data directory, sorted.
func (m *Manager) OnDisk() ([]TopicPartition, error) {
	entries, err := os.ReadDir(m.dataDir)
	if err != nil {
		return nil, fmt.Errorf("list data directory: %w", err)
	}
	var out []TopicPartition
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		i := strings.LastIndexByte(name, '-')
		if i <= 0 {
			continue
		}
		p, err := strconv.ParseInt(name[i+1:], 10, 32)
		if err != nil || p < 0 || validTopic(name[:i]) != nil {
			continue
		}
		out = append(out, TopicPartition{Topic: name[:i], Partition: int32(p)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// Logs returns the open logs.
func (m *Manager) Logs() map[TopicPartition]*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[TopicPartition]*Log, len(m.logs))
	for tp, l := range m.logs {
		out[tp] = l
	}
	return out
}

// Run performs background maintenance every Options.MaintainInterval until
// ctx is done: segment.ms rolls, flush.ms, retention, producer expiration
// and checkpoints on this goroutine, and compaction on a second one it
// owns (so a long cleaning pass delays no other partition's flushes). It
// returns when both have stopped. Errors are logged; a failing partition
// does not stop the others.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.loop(ctx, func(l *Log, now time.Time) error { return l.maintainCompaction(ctx, now) })
	}()
	m.loop(ctx, func(l *Log, now time.Time) error { return l.maintainFast(now, false) })
	wg.Wait()
}

func (m *Manager) loop(ctx context.Context, work func(*Log, time.Time) error) {
	t := time.NewTicker(m.opt.MaintainInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for tp, l := range m.Logs() {
			if ctx.Err() != nil {
				return
			}
			if err := work(l, m.opt.Now()); err != nil && !errors.Is(err, ErrClosed) {
				m.opt.Logger.Error("storage: maintenance failed", "partition", tp.String(), "err", err)
			}
		}
	}
}

// Close flushes, checkpoints and closes every log.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	logs := m.logs
	m.logs = map[TopicPartition]*Log{}
	m.mu.Unlock()
	var errs []error
	for _, l := range logs {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.lock != nil {
		m.lock.Close()
		m.lock = nil
	}
	return errors.Join(errs...)
}
