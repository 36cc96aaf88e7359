package operators

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/RaduBerinde/btreemap"

	"github.com/sluicehq/sluice/engine/state"
)

// timeStore is the layout shared by every time-bounded store: window
// aggregates (t = window start), session aggregates (t = session end, aux =
// start), and the record buffers of joins and sliding windows (t = record
// timestamp, aux = a sequence number so equal timestamps do not collide).
//
// Raw keys are   0x01 | segment(t) BE8 | uvarint len(key) | key | t BE8 | aux BE8
// so one key's entries in a segment are contiguous and ordered by t, and a
// whole segment of expired data goes with one DeleteRange. Metadata (the
// store's observed stream time and emit progress) lives under 0x00 and is
// changelogged like data, so a restored task resumes where the old one was.
//
// Every write goes to a write-back cache and reaches the raw store (and its
// changelog) only when the task flushes, at the engine's commit: a window
// updated a thousand times between commits costs one store write and one
// changelog record, the raw store sees sorted batches instead of scattered
// writes, and the state written is the state as of the commit, not of some
// record in between (which would count replayed records twice after a
// crash). Range reads merge the cache's dirty entries, kept ordered, with
// the raw store, so they never force a flush. The cache is flushed early
// only when it holds CacheMaxEntries entries.
//
// Entries older than observed-retention are invisible at once (reads filter
// exactly) and physically dropped a segment at a time when the store
// flushes.
type timeStore[V any] struct {
	tk        *Task
	raw       state.KeyValueStore
	vs        Serde[V]
	segment   int64
	retention int64
	dropped   int64 // segments at or below this are deleted

	// cache holds entries read or written since the last eviction, by raw
	// key; dirty holds the written ones in raw-key order until the flush.
	cache map[string]*tsEntry[V]
	dirty *btreemap.BTreeMap[string, *tsEntry[V]]
	max   int

	bounds func(t, aux int64) (start, end int64)

	observed int64 // largest timestamp this store's processor has seen
	emitted  int64 // emit-on-close progress: windows ending at or before were emitted
	highT    int64 // largest t written since open (t never exceeds observed in practice)
	metaSet  bool

	kbuf []byte
	vbuf []byte
	rd   *tsReader[V] // see timestore_read.go
	busy bool         // rd is in use
}

// tsEntry is a cached entry; present=false caches an absence, or a pending
// delete when dirty.
type tsEntry[V any] struct {
	key     string
	v       V
	present bool
	dirty   bool
}

const (
	tsMeta byte = 0x00
	tsData byte = 0x01
)

var (
	metaObserved = []byte{tsMeta, 'o'}
	metaEmitted  = []byte{tsMeta, 'e'}
)

// timeStoreDef declares a timeStore.
type timeStoreDef[V any] struct {
	name      string
	vs        Serde[V]
	retention int64
	opts      storeOpts
	// bounds maps a stored (t, aux) to the window it holds, for readers
	// (nil for join buffers).
	bounds func(t, aux int64) (start, end int64)
}

func (d *timeStoreDef[V]) Name() string { return d.name }

func (d *timeStoreDef[V]) spec() state.Spec {
	return state.Spec{Name: d.name, Windowed: true, RetentionMs: d.retention, InMemory: d.opts.inMemory, Logged: !d.opts.noLog}
}

// minSegmentMs is the smallest segment. (Segments are part of the raw key
// layout: changing it would orphan the entries of existing stores.)
const minSegmentMs = 1000

func (d *timeStoreDef[V]) open(tk *Task, raw state.KeyValueStore) (any, error) {
	if d.vs == nil {
		return nil, fmt.Errorf("store %q needs a value serde", d.name)
	}
	seg := max(d.retention/2, minSegmentMs)
	s := &timeStore[V]{tk: tk, raw: raw, vs: d.vs, segment: seg, retention: d.retention, bounds: d.bounds,
		cache: map[string]*tsEntry[V]{}, dirty: btreemap.New[string, *tsEntry[V]](16, strings.Compare), max: tk.cache,
		observed: NoTimestamp, emitted: NoTimestamp, dropped: -1}
	for _, m := range []struct {
		k []byte
		v *int64
	}{{metaObserved, &s.observed}, {metaEmitted, &s.emitted}} {
		b, ok, err := raw.Get(m.k)
		if err != nil {
			return nil, fmt.Errorf("store %q: metadata: %w", d.name, err)
		}
		if ok {
			if len(b) != 8 {
				return nil, fmt.Errorf("store %q: corrupt metadata (%d bytes)", d.name, len(b))
			}
			*m.v = int64(binary.BigEndian.Uint64(b))
		}
	}
	if s.observed == NoTimestamp && tk.streamTime != NoTimestamp {
		// A store that starts empty (no changelog, or a new store in an
		// old application) takes the task's restored stream time, so
		// replayed records cannot reopen windows that closed before.
		s.observed = tk.streamTime
	}
	s.highT = s.observed
	tk.flushers = append(tk.flushers, s.flush)
	return s, nil
}

func (s *timeStore[V]) segOf(t int64) int64 {
	if t < 0 {
		return 0
	}
	return t / s.segment
}

// rawKey encodes (key, t, aux) into buf.
func (s *timeStore[V]) rawKey(buf, key []byte, t, aux int64) []byte {
	buf = s.segKey(buf, s.segOf(t), key, t)
	return binary.BigEndian.AppendUint64(buf, uint64(aux))
}

// segKey encodes the prefix of key's entries in seg starting at t.
func (s *timeStore[V]) segKey(buf []byte, seg int64, key []byte, t int64) []byte {
	buf = append(buf, tsData)
	buf = binary.BigEndian.AppendUint64(buf, uint64(seg))
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return binary.BigEndian.AppendUint64(buf, uint64(t))
}

// parseTimeKey splits a raw data key; ok is false for malformed keys.
func parseTimeKey(raw []byte) (key []byte, t, aux int64, ok bool) {
	if len(raw) < 1+8+1+16 || raw[0] != tsData {
		return nil, 0, 0, false
	}
	rest := raw[9:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || uint64(len(rest)-w) != n+16 {
		return nil, 0, 0, false
	}
	key = rest[w : w+int(n)]
	t = int64(binary.BigEndian.Uint64(rest[w+int(n):]))
	aux = int64(binary.BigEndian.Uint64(rest[w+int(n)+8:]))
	return key, t, aux, true
}

// rawSeg is the segment of a raw data key (-1 for other keys).
func rawSeg(k string) int64 {
	if len(k) < 9 || k[0] != tsData {
		return -1
	}
	return int64(binary.BigEndian.Uint64([]byte(k[1:9])))
}

// observe advances the store's stream time.
func (s *timeStore[V]) observe(ts int64) error {
	if ts > s.observed {
		s.observed = ts
		s.metaSet = true
	}
	return nil
}

// dropBelow is the first segment that may still hold live entries: every
// segment before it is past retention.
func (s *timeStore[V]) dropBelow() int64 {
	if s.observed == NoTimestamp {
		return 0
	}
	cutoff := s.observed - s.retention // entries with t < cutoff are dead
	if cutoff <= 0 {
		return 0
	}
	return s.segOf(cutoff)
}

func (s *timeStore[V]) setEmitted(end int64) {
	if end > s.emitted {
		s.emitted = end
		s.metaSet = true
	}
}

// room evicts the whole cache (after a flush) when it is full.
func (s *timeStore[V]) room() error {
	if len(s.cache) < s.max {
		return nil
	}
	if err := s.writeBack(false); err != nil {
		return err
	}
	clear(s.cache)
	return nil
}

// entry returns the cached entry for (key, t, aux), loading it on a miss.
func (s *timeStore[V]) entry(key []byte, t, aux int64) (*tsEntry[V], error) {
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	if e, ok := s.cache[string(s.kbuf)]; ok {
		return e, nil
	}
	if err := s.room(); err != nil {
		return nil, err
	}
	e := &tsEntry[V]{key: string(s.kbuf)}
	b, ok, err := s.raw.Get(s.kbuf)
	if err != nil {
		return nil, fmt.Errorf("store %q: get: %w", s.raw.Name(), err)
	}
	if ok {
		v, err := s.vs.Deserialize(b)
		if err != nil {
			return nil, fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
		}
		e.v, e.present = v, true
	}
	s.cache[e.key] = e
	s.noteT(t)
	return e, nil
}

// blind returns the cache entry for (key, t, aux) for an overwrite: on a
// miss it is not read from the raw store.
func (s *timeStore[V]) blind(key []byte, t, aux int64) (*tsEntry[V], error) {
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	if e, ok := s.cache[string(s.kbuf)]; ok {
		return e, nil
	}
	if err := s.room(); err != nil {
		return nil, err
	}
	e := &tsEntry[V]{key: string(s.kbuf)}
	s.cache[e.key] = e
	s.noteT(t)
	return e, nil
}

func (s *timeStore[V]) noteT(t int64) {
	if t > s.highT {
		s.highT = t
	}
}

func (s *timeStore[V]) markDirty(e *tsEntry[V]) {
	if !e.dirty {
		e.dirty = true
		s.dirty.ReplaceOrInsert(e.key, e)
	}
}

// getAny reads one entry even if it is past retention but not yet dropped.
func (s *timeStore[V]) getAny(key []byte, t, aux int64) (V, bool, error) {
	e, err := s.entry(key, t, aux)
	if err != nil {
		var zero V
		return zero, false, err
	}
	return e.v, e.present, nil
}

// put writes one entry.
func (s *timeStore[V]) put(key []byte, t, aux int64, v V) error {
	e, err := s.blind(key, t, aux)
	if err != nil {
		return err
	}
	e.v, e.present = v, true
	s.markDirty(e)
	return nil
}

// del deletes one entry.
func (s *timeStore[V]) del(key []byte, t, aux int64) error {
	e, err := s.blind(key, t, aux)
	if err != nil {
		return err
	}
	var zero V
	e.v, e.present = zero, false
	s.markDirty(e)
	return nil
}

// flush runs between records (at the task's flush): it writes the pending
// writes, drops expired segments and records the metadata.
func (s *timeStore[V]) flush() error { return s.writeBack(true) }

// writeBack writes the pending writes to the raw store in key order. With
// expire (between records, when every window that closed has been emitted)
// it skips writes already past retention and drops expired segments;
// without (a cache eviction in the middle of a record) it writes
// everything, since an emitter may still read a window that has just
// closed. The metadata goes with the data either way.
func (s *timeStore[V]) writeBack(expire bool) error {
	below := int64(0)
	if expire {
		below = s.dropBelow()
	}
	var ferr error
	s.dirty.AscendFunc(btreemap.Min[string](), btreemap.Max[string](), func(k string, e *tsEntry[V]) bool {
		e.dirty = false
		if rawSeg(k) < below {
			return true // expired before it was ever written
		}
		if !e.present {
			if err := s.raw.Delete([]byte(k)); err != nil {
				ferr = fmt.Errorf("store %q: delete: %w", s.raw.Name(), err)
				return false
			}
			return true
		}
		b, err := s.vs.Serialize(s.vbuf[:0], e.v)
		if err != nil {
			ferr = fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
			return false
		}
		s.vbuf = b
		if err := s.raw.Put([]byte(k), b); err != nil {
			ferr = fmt.Errorf("store %q: put: %w", s.raw.Name(), err)
			return false
		}
		return true
	})
	if ferr != nil {
		// Entries not yet written stay dirty in the cache map but leave
		// the ordered set; the task fails on this error anyway.
		return ferr
	}
	s.dirty.Clear(true)
	if expire && below > s.dropped+1 {
		lo := []byte{tsData}
		hi := binary.BigEndian.AppendUint64([]byte{tsData}, uint64(below))
		if err := s.raw.DeleteRange(lo, hi); err != nil {
			return fmt.Errorf("store %q: expire: %w", s.raw.Name(), err)
		}
		for k := range s.cache {
			if rawSeg(k) < below {
				delete(s.cache, k)
			}
		}
		s.dropped = below - 1
	}
	if s.metaSet {
		s.metaSet = false
		if err := s.raw.Put(metaObserved, binary.BigEndian.AppendUint64(nil, uint64(s.observed))); err != nil {
			return fmt.Errorf("store %q: metadata: %w", s.raw.Name(), err)
		}
		if err := s.raw.Put(metaEmitted, binary.BigEndian.AppendUint64(nil, uint64(s.emitted))); err != nil {
			return fmt.Errorf("store %q: metadata: %w", s.raw.Name(), err)
		}
	}
	return nil
}
