package operators

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/engine/state"
)

// StoreDef declares a state store: its name, serdes and options. The DSL
// makes the stores it needs; Process users make theirs with
// NewKeyValueStore, add them with Builder.AddStore and reach them in Init
// with the definition's From method.
type StoreDef interface {
	Name() string
	spec() state.Spec
	open(tk *Task, raw state.KeyValueStore) (any, error)
}

// StoreOption configures a store.
type StoreOption func(*storeOpts)

type storeOpts struct {
	inMemory bool
	ttl      time.Duration
	noLog    bool
}

// InMemory keeps the store in memory only; it is rebuilt from its changelog
// whenever its task is assigned.
func InMemory() StoreOption { return func(o *storeOpts) { o.inMemory = true } }

// TTL expires entries not written for d of stream time, so state keyed by
// an unbounded key space cannot grow without bound. Expired entries read as
// absent at once and are deleted (with changelog tombstones) by a periodic
// sweep.
func TTL(d time.Duration) StoreOption { return func(o *storeOpts) { o.ttl = d } }

// WithoutChangelog turns off the changelog: the store is not fault
// tolerant and starts empty when its task moves.
func WithoutChangelog() StoreOption { return func(o *storeOpts) { o.noLog = true } }

// KeyValueStore is a typed view of a key-value state store. Writes are
// cached in memory and written through to the underlying store and its
// changelog when the task flushes (before each commit).
type KeyValueStore[K, V any] interface {
	Name() string
	Get(key K) (V, bool, error)
	Put(key K, value V) error
	Delete(key K) error
	// All calls fn for every entry in the order of the serialized keys;
	// fn returning false stops.
	All(fn func(key K, value V) bool) error
}

// KeyValueStoreDef declares a typed key-value store.
type KeyValueStoreDef[K, V any] struct {
	name string
	ks   Serde[K]
	vs   Serde[V]
	opts storeOpts
}

// NewKeyValueStore declares a key-value store.
func NewKeyValueStore[K, V any](name string, keySerde Serde[K], valueSerde Serde[V], opts ...StoreOption) *KeyValueStoreDef[K, V] {
	d := &KeyValueStoreDef[K, V]{name: name, ks: keySerde, vs: valueSerde}
	for _, o := range opts {
		o(&d.opts)
	}
	return d
}

// Name implements StoreDef.
func (d *KeyValueStoreDef[K, V]) Name() string { return d.name }

func (d *KeyValueStoreDef[K, V]) spec() state.Spec {
	return state.Spec{Name: d.name, InMemory: d.opts.inMemory, Logged: !d.opts.noLog}
}

func (d *KeyValueStoreDef[K, V]) open(tk *Task, raw state.KeyValueStore) (any, error) {
	if d.ks == nil || d.vs == nil {
		return nil, fmt.Errorf("store %q needs a key and a value serde", d.name)
	}
	s := newCachedKV[K, V](tk, raw, d.ks, d.vs, d.opts.ttl)
	return s, nil
}

// From returns the task's instance of the store. ctx must belong to a
// processor connected to the store.
func (d *KeyValueStoreDef[K, V]) From(ctx TaskContext) (KeyValueStore[K, V], error) {
	return storeFrom[*cachedKV[K, V]](ctx.task(), d.name)
}

func storeFrom[S any](tk *Task, name string) (S, error) {
	var zero S
	os, ok := tk.stores[name]
	if !ok {
		return zero, fmt.Errorf("store %q is not connected to this sub-topology", name)
	}
	s, ok := os.typed.(S)
	if !ok {
		return zero, fmt.Errorf("store %q is a %T, not a %T", name, os.typed, zero)
	}
	return s, nil
}

// kvEntry is a cached store entry. present=false caches an absence (or a
// pending delete when dirty).
type kvEntry[V any] struct {
	v       V
	ts      int64 // last write, stream time (for TTL)
	present bool
	dirty   bool
}

// cachedKV is a typed, write-back cached key-value store over raw bytes.
// The cache is keyed by the serialized key, so lookups cost one key
// serialization into a reused buffer and one map probe, and a hot key is
// deserialized once and serialized once per flush.
type cachedKV[K, V any] struct {
	tk    *Task
	raw   state.KeyValueStore
	ks    Serde[K]
	vs    Serde[V]
	ttl   int64
	cache map[string]*kvEntry[V]
	dirty []string
	kbuf  []byte
	vbuf  []byte
	max   int
}

func newCachedKV[K, V any](tk *Task, raw state.KeyValueStore, ks Serde[K], vs Serde[V], ttl time.Duration) *cachedKV[K, V] {
	s := &cachedKV[K, V]{tk: tk, raw: raw, ks: ks, vs: vs, ttl: ttl.Milliseconds(), cache: map[string]*kvEntry[V]{}, max: tk.cache}
	tk.flushers = append(tk.flushers, s.flush)
	if s.ttl > 0 {
		every := max(ttl/2, time.Second)
		tk.schedule(every, StreamTime, func(int64) error { return s.sweep() })
	}
	return s
}

func (s *cachedKV[K, V]) Name() string { return s.raw.Name() }

func (s *cachedKV[K, V]) key(k K) ([]byte, error) {
	b, err := s.ks.Serialize(s.kbuf[:0], k)
	if err != nil {
		return nil, fmt.Errorf("store %q: key: %w", s.raw.Name(), err)
	}
	s.kbuf = b
	return b, nil
}

// entry returns the cache entry for the serialized key kb, loading it from
// the raw store on a miss.
func (s *cachedKV[K, V]) entry(kb []byte) (*kvEntry[V], error) {
	if e, ok := s.cache[string(kb)]; ok {
		if e.present && s.expired(e.ts) {
			var zero V
			e.v, e.present = zero, false
		}
		return e, nil
	}
	if len(s.cache) >= s.max {
		if err := s.evict(); err != nil {
			return nil, err
		}
	}
	e := &kvEntry[V]{}
	raw, ok, err := s.raw.Get(kb)
	if err != nil {
		return nil, fmt.Errorf("store %q: get: %w", s.raw.Name(), err)
	}
	if ok {
		if s.ttl > 0 {
			if len(raw) < 8 {
				return nil, fmt.Errorf("store %q: corrupt TTL entry (%d bytes)", s.raw.Name(), len(raw))
			}
			e.ts = int64(binary.BigEndian.Uint64(raw))
			raw = raw[8:]
		}
		if !s.expired(e.ts) {
			v, err := s.vs.Deserialize(raw)
			if err != nil {
				return nil, fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
			}
			e.v, e.present = v, true
		}
	}
	s.cache[string(kb)] = e
	return e, nil
}

func (s *cachedKV[K, V]) expired(ts int64) bool {
	return s.ttl > 0 && s.tk.streamTime != NoTimestamp && ts+s.ttl < s.tk.streamTime
}

func (s *cachedKV[K, V]) markDirty(kb []byte, e *kvEntry[V]) {
	if !e.dirty {
		e.dirty = true
		s.dirty = append(s.dirty, string(kb))
	}
}

func (s *cachedKV[K, V]) Get(k K) (V, bool, error) {
	var zero V
	kb, err := s.key(k)
	if err != nil {
		return zero, false, err
	}
	e, err := s.entry(kb)
	if err != nil {
		return zero, false, err
	}
	return e.v, e.present, nil
}

func (s *cachedKV[K, V]) Put(k K, v V) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.putBytes(kb, v)
}

func (s *cachedKV[K, V]) putBytes(kb []byte, v V) error {
	e, ok := s.cache[string(kb)]
	if !ok {
		if len(s.cache) >= s.max {
			if err := s.evict(); err != nil {
				return err
			}
		}
		e = &kvEntry[V]{}
		s.cache[string(kb)] = e
	}
	e.v, e.present, e.ts = v, true, s.tk.streamTime
	s.markDirty(kb, e)
	return nil
}

func (s *cachedKV[K, V]) Delete(k K) error {
	kb, err := s.key(k)
	if err != nil {
		return err
	}
	return s.deleteBytes(kb)
}

func (s *cachedKV[K, V]) deleteBytes(kb []byte) error {
	e, ok := s.cache[string(kb)]
	if !ok {
		e = &kvEntry[V]{}
		s.cache[string(kb)] = e
	}
	var zero V
	e.v, e.present = zero, false
	s.markDirty(kb, e)
	return nil
}

func (s *cachedKV[K, V]) All(fn func(K, V) bool) error {
	if err := s.flush(); err != nil {
		return err
	}
	var ferr error
	err := s.raw.Range(nil, nil, func(kb, vb []byte) bool {
		if s.ttl > 0 {
			if len(vb) < 8 {
				ferr = fmt.Errorf("store %q: corrupt TTL entry", s.raw.Name())
				return false
			}
			if s.expired(int64(binary.BigEndian.Uint64(vb))) {
				return true
			}
			vb = vb[8:]
		}
		k, err := s.ks.Deserialize(kb)
		if err != nil {
			ferr = fmt.Errorf("store %q: key: %w", s.raw.Name(), err)
			return false
		}
		v, err := s.vs.Deserialize(vb)
		if err != nil {
			ferr = fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
			return false
		}
		return fn(k, v)
	})
	if err != nil {
		return err
	}
	return ferr
}

// flush writes dirty entries to the raw store.
func (s *cachedKV[K, V]) flush() error {
	for _, k := range s.dirty {
		e := s.cache[k]
		if e == nil || !e.dirty {
			continue
		}
		e.dirty = false
		if !e.present {
			if err := s.raw.Delete([]byte(k)); err != nil {
				return fmt.Errorf("store %q: delete: %w", s.raw.Name(), err)
			}
			continue
		}
		buf := s.vbuf[:0]
		if s.ttl > 0 {
			buf = binary.BigEndian.AppendUint64(buf, uint64(e.ts))
		}
		buf, err := s.vs.Serialize(buf, e.v)
		if err != nil {
			return fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
		}
		s.vbuf = buf
		if err := s.raw.Put([]byte(k), buf); err != nil {
			return fmt.Errorf("store %q: put: %w", s.raw.Name(), err)
		}
	}
	s.dirty = s.dirty[:0]
	return nil
}

func (s *cachedKV[K, V]) evict() error {
	if err := s.flush(); err != nil {
		return err
	}
	clear(s.cache)
	return nil
}

// sweep deletes expired entries from the raw store.
func (s *cachedKV[K, V]) sweep() error {
	if err := s.flush(); err != nil {
		return err
	}
	var dead [][]byte
	err := s.raw.Range(nil, nil, func(kb, vb []byte) bool {
		if len(vb) >= 8 && s.expired(int64(binary.BigEndian.Uint64(vb))) {
			dead = append(dead, append([]byte(nil), kb...))
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("store %q: sweep: %w", s.raw.Name(), err)
	}
	for _, k := range dead {
		delete(s.cache, string(k))
		if err := s.raw.Delete(k); err != nil {
			return fmt.Errorf("store %q: sweep: %w", s.raw.Name(), err)
		}
	}
	return nil
}

// FromTask returns a task's instance of the store, for code outside a
// processor such as a test driver reading results.
func (d *KeyValueStoreDef[K, V]) FromTask(tk *Task) (KeyValueStore[K, V], error) {
	return storeFrom[*cachedKV[K, V]](tk, d.name)
}
