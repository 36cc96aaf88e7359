package state

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// Pebble is a KeyValueStore on local disk, backed by Pebble (the LSM engine
// of CockroachDB). Writes skip fsync; Flush syncs the write-ahead log, and
// the engine calls it before recording a checkpoint, so a checkpoint never
// names data the disk does not hold.
type Pebble struct {
	name   string
	dir    string
	db     *pebble.DB
	closed bool
}

// PebbleOptions tunes OpenPebble. The zero value is sensible.
type PebbleOptions struct {
	// CacheBytes is the block cache size (default 8 MiB).
	CacheBytes int64
	// MemTableBytes is the memtable size (default 4 MiB).
	MemTableBytes uint64
	Logger        *slog.Logger
}

// OpenPebble opens (or creates) the store in dir.
func OpenPebble(name, dir string, o PebbleOptions) (*Pebble, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store %q: %w", name, err)
	}
	opts := &pebble.Options{Logger: pebbleLogger{o.Logger}}
	if o.CacheBytes > 0 {
		opts.CacheSize = o.CacheBytes
	}
	if o.MemTableBytes > 0 {
		opts.MemTableSize = o.MemTableBytes
	} else {
		opts.MemTableSize = 4 << 20
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("store %q: open pebble at %s: %w", name, dir, err)
	}
	return &Pebble{name: name, dir: dir, db: db}, nil
}

// Name implements KeyValueStore.
func (p *Pebble) Name() string { return p.name }

// Dir is the store's directory.
func (p *Pebble) Dir() string { return p.dir }

// Get implements KeyValueStore.
func (p *Pebble) Get(key []byte) ([]byte, bool, error) {
	if p.closed {
		return nil, false, ErrClosed
	}
	v, c, err := p.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store %q: get: %w", p.name, err)
	}
	out := append([]byte(nil), v...)
	c.Close()
	return out, true, nil
}

// Put implements KeyValueStore.
func (p *Pebble) Put(key, value []byte) error {
	if p.closed {
		return ErrClosed
	}
	if err := p.db.Set(key, value, pebble.NoSync); err != nil {
		return fmt.Errorf("store %q: put: %w", p.name, err)
	}
	return nil
}

// Delete implements KeyValueStore.
func (p *Pebble) Delete(key []byte) error {
	if p.closed {
		return ErrClosed
	}
	if err := p.db.Delete(key, pebble.NoSync); err != nil {
		return fmt.Errorf("store %q: delete: %w", p.name, err)
	}
	return nil
}

// Range implements KeyValueStore.
func (p *Pebble) Range(start, end []byte, fn func(key, value []byte) bool) error {
	if p.closed {
		return ErrClosed
	}
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return fmt.Errorf("store %q: range: %w", p.name, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("store %q: range: %w", p.name, err)
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("store %q: range: %w", p.name, err)
	}
	return nil
}

// DeleteRange implements KeyValueStore.
func (p *Pebble) DeleteRange(start, end []byte) error {
	if p.closed {
		return ErrClosed
	}
	if start == nil {
		start = []byte{}
	}
	if end == nil {
		end = bytes.Repeat([]byte{0xff}, 64)
	}
	if bytes.Compare(start, end) >= 0 {
		return nil
	}
	if err := p.db.DeleteRange(start, end, pebble.NoSync); err != nil {
		return fmt.Errorf("store %q: delete range: %w", p.name, err)
	}
	return nil
}

// Flush syncs the write-ahead log, making every write so far durable.
func (p *Pebble) Flush() error {
	if p.closed {
		return ErrClosed
	}
	if err := p.db.LogData(nil, pebble.Sync); err != nil {
		return fmt.Errorf("store %q: sync: %w", p.name, err)
	}
	return nil
}

// Close implements KeyValueStore.
func (p *Pebble) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	if err := p.db.Close(); err != nil {
		return fmt.Errorf("store %q: close: %w", p.name, err)
	}
	return nil
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) log() *slog.Logger {
	if p.l == nil {
		return slog.Default()
	}
	return p.l
}
func (p pebbleLogger) Infof(format string, args ...any) {
	p.log().Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.log().Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	// Pebble calls Fatalf on unrecoverable corruption; it expects the
	// call not to return.
	p.log().Error(fmt.Sprintf(format, args...), "component", "pebble")
	panic(fmt.Sprintf("pebble: "+format, args...))
}
