// Package state holds the byte-level state stores a stream task keeps its
// state in: an in-memory ordered store and a Pebble store on local disk.
//
// Stores here know nothing about types, windows or changelogs. The typed
// stores of package operators (key-value, windowed, session) encode their
// keys onto these, and the engine wraps them to copy every write to a
// compacted changelog topic. Keeping the byte layer this small is what lets
// one changelog/restore path serve every kind of store.
package state

import "errors"

// ErrClosed is returned by every method of a store after Close.
var ErrClosed = errors.New("state store closed")

// KeyValueStore is an ordered map from byte keys to byte values.
//
// Slices passed in are not retained; slices handed out (by Get and to Range
// callbacks) are valid only until the next call on the store, so callers
// copy what they keep. Stores are used by one task goroutine at a time and
// need not be safe for concurrent use.
type KeyValueStore interface {
	// Name is the store's name, unique within an application.
	Name() string
	// Get returns the value for key, or (nil, false, nil) when absent.
	Get(key []byte) (value []byte, ok bool, err error)
	// Put sets key to value. A nil value is stored as an empty value, not
	// a delete: call Delete to delete.
	Put(key, value []byte) error
	// Delete removes key; deleting an absent key is not an error.
	Delete(key []byte) error
	// Range calls fn for every key in [start, end) in ascending order;
	// a nil start or end means unbounded. fn returning false stops early.
	// fn may read the store (Get, Range) but must not write to it.
	Range(start, end []byte, fn func(key, value []byte) bool) error
	// DeleteRange removes every key in [start, end).
	DeleteRange(start, end []byte) error
	// Flush makes every write so far durable as far as the store can
	// (a no-op for in-memory stores).
	Flush() error
	// Close releases the store. Data of persistent stores stays on disk.
	Close() error
}

// Spec describes a store an operator needs; the engine or a test driver
// turns it into a concrete store.
type Spec struct {
	// Name is unique within the application; the changelog topic is
	// "<application-id>-<name>-changelog".
	Name string
	// Windowed stores hold time-bounded data: their changelog topics use
	// cleanup.policy=compact,delete with retention.ms of RetentionMs plus a
	// safety margin, so expired windows do not live forever.
	Windowed bool
	// RetentionMs is how long (in stream time) windowed data must be kept.
	RetentionMs int64
	// InMemory asks for a store that lives only in memory (restored from
	// the changelog on every assignment).
	InMemory bool
	// Logged is false for stores that need no changelog (rare).
	Logged bool
}
