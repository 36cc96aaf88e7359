package state

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/RaduBerinde/btreemap"
)

// Memory is an in-memory KeyValueStore ordered by key (a B-tree).
type Memory struct {
	name   string
	tree   *btreemap.BTreeMap[string, []byte]
	closed bool
}

// NewMemory returns an empty in-memory store.
func NewMemory(name string) *Memory {
	return &Memory{name: name, tree: btreemap.New[string, []byte](32, strings.Compare)}
}

// Name implements KeyValueStore.
func (m *Memory) Name() string { return m.name }

// Get implements KeyValueStore.
func (m *Memory) Get(key []byte) ([]byte, bool, error) {
	if m.closed {
		return nil, false, ErrClosed
	}
	_, v, ok := m.tree.Get(string(key))
	return v, ok, nil
}

// Put implements KeyValueStore.
func (m *Memory) Put(key, value []byte) error {
	if m.closed {
		return ErrClosed
	}
	v := make([]byte, len(value))
	copy(v, value)
	m.tree.ReplaceOrInsert(string(key), v)
	return nil
}

// Delete implements KeyValueStore.
func (m *Memory) Delete(key []byte) error {
	if m.closed {
		return ErrClosed
	}
	m.tree.Delete(string(key))
	return nil
}

// bounds views start and end as strings without copying: the tree only
// compares against them during the call.
func bounds(start, end []byte) (btreemap.LowerBound[string], btreemap.UpperBound[string]) {
	lo, hi := btreemap.Min[string](), btreemap.Max[string]()
	if start != nil {
		lo = btreemap.GE(unsafe.String(unsafe.SliceData(start), len(start)))
	}
	if end != nil {
		hi = btreemap.LT(unsafe.String(unsafe.SliceData(end), len(end)))
	}
	return lo, hi
}

// Range implements KeyValueStore.
func (m *Memory) Range(start, end []byte, fn func(key, value []byte) bool) error {
	if m.closed {
		return ErrClosed
	}
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	lo, hi := bounds(start, end)
	// Keys are handed out as views of the tree's strings (read-only, valid
	// until the next call, as the interface says).
	m.tree.AscendFunc(lo, hi, func(k string, v []byte) bool {
		return fn(unsafe.Slice(unsafe.StringData(k), len(k)), v)
	})
	return nil
}

// DeleteRange implements KeyValueStore.
func (m *Memory) DeleteRange(start, end []byte) error {
	if m.closed {
		return ErrClosed
	}
	if start != nil && end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	var keys []string
	lo, hi := bounds(start, end)
	m.tree.AscendFunc(lo, hi, func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	})
	for _, k := range keys {
		m.tree.Delete(k)
	}
	return nil
}

// Len is the number of keys held.
func (m *Memory) Len() int { return m.tree.Len() }

// Flush implements KeyValueStore; memory has nothing to flush.
func (m *Memory) Flush() error { return nil }

// Close implements KeyValueStore.
func (m *Memory) Close() error {
	m.closed = true
	return nil
}
