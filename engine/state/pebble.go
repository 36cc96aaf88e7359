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

	// Range reuses one iterator, repositioned with new bounds, until the
	// next write: a DB iterator reads a fixed view, and making one costs
	// more than most of the short ranges the stream operators read. The
	// operators write to the store only when a task flushes, so the
	// iterator lives across many reads.
	it        *pebble.Iterator
	stale     bool         // a write happened while it was iterating
	iterating bool         // a Range is running
	bounds    [2][2][]byte // store-owned bounds, double-buffered (see SetBounds)
	cur       int
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

// written drops the reused iterator, which cannot see writes made after
// it was created (at the end of the Range running now, if any).
func (p *Pebble) written() {
	if p.it == nil {
		return
	}
	if p.iterating {
		p.stale = true
		return
	}
	p.it.Close()
	p.it = nil
}

// Put implements KeyValueStore.
func (p *Pebble) Put(key, value []byte) error {
	if p.closed {
		return ErrClosed
	}
	p.written()
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
	p.written()
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
	if p.iterating {
		// A Range inside another's callback gets an iterator of its own.
		it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return fmt.Errorf("store %q: range: %w", p.name, err)
		}
		err = p.iterate(it, fn)
		if cerr := it.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("store %q: range: %w", p.name, cerr)
		}
		return err
	}
	// Pebble compares new bounds with the previous ones, which must stay
	// untouched until SetBounds returns: copy into the other buffer pair.
	nb := &p.bounds[1-p.cur]
	lo, hi := ownBound(nb[0][:0], start), ownBound(nb[1][:0], end)
	if lo != nil {
		nb[0] = lo
	}
	if hi != nil {
		nb[1] = hi
	}
	if p.it == nil {
		it, err := p.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
		if err != nil {
			return fmt.Errorf("store %q: range: %w", p.name, err)
		}
		p.it = it
	} else {
		p.it.SetBounds(lo, hi)
	}
	p.cur = 1 - p.cur
	p.iterating = true
	err := p.iterate(p.it, fn)
	p.iterating = false
	if err != nil || p.stale {
		p.stale = false
		p.it.Close()
		p.it = nil
	}
	return err
}

func (p *Pebble) iterate(it *pebble.Iterator, fn func(key, value []byte) bool) error {
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store %q: range: %w", p.name, err)
		}
		if !fn(it.Key(), v) {
			return nil
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store %q: range: %w", p.name, err)
	}
	return nil
}

// ownBound copies a bound into buf; nil stays nil (unbounded).
func ownBound(buf, b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(buf, b...)
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
	p.written()
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
	if p.it != nil {
		p.it.Close()
		p.it = nil
	}
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
