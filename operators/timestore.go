package operators

import (
	"encoding/binary"
	"fmt"
	"math"

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
// Entries older than observed-retention are invisible at once (reads filter
// exactly) and physically dropped a segment at a time.
type timeStore[V any] struct {
	tk        *Task
	raw       state.KeyValueStore
	vs        Serde[V]
	segment   int64
	retention int64
	dropped   int64 // segments below this are deleted

	cached bool
	cache  map[string]*kvEntry[V]
	dirty  []string
	max    int

	bounds func(t, aux int64) (start, end int64)

	observed int64 // largest timestamp this store's processor has seen
	emitted  int64 // emit-on-close progress: windows ending at or before were emitted
	metaSet  bool

	kbuf []byte
	vbuf []byte
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
	cached    bool
	opts      storeOpts
	// bounds maps a stored (t, aux) to the window it holds, for readers
	// (nil for join buffers).
	bounds func(t, aux int64) (start, end int64)
}

func (d *timeStoreDef[V]) Name() string { return d.name }

func (d *timeStoreDef[V]) spec() state.Spec {
	return state.Spec{Name: d.name, Windowed: true, RetentionMs: d.retention, InMemory: d.opts.inMemory, Logged: !d.opts.noLog}
}

func (d *timeStoreDef[V]) open(tk *Task, raw state.KeyValueStore) (any, error) {
	if d.vs == nil {
		return nil, fmt.Errorf("store %q needs a value serde", d.name)
	}
	seg := max(d.retention/2, 1000)
	s := &timeStore[V]{tk: tk, raw: raw, vs: d.vs, segment: seg, retention: d.retention, cached: d.cached, bounds: d.bounds,
		cache: map[string]*kvEntry[V]{}, max: tk.cache, observed: NoTimestamp, emitted: NoTimestamp}
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
	buf = append(buf, tsData)
	buf = binary.BigEndian.AppendUint64(buf, uint64(s.segOf(t)))
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = binary.BigEndian.AppendUint64(buf, uint64(t))
	return binary.BigEndian.AppendUint64(buf, uint64(aux))
}

// parseKey splits a raw data key; ok is false for malformed keys.
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

// observe advances the store's stream time.
func (s *timeStore[V]) observe(ts int64) error {
	if ts > s.observed {
		s.observed = ts
		s.metaSet = true
	}
	return nil
}

// expire drops whole segments that fell out of retention.
func (s *timeStore[V]) expire() error {
	if s.observed == NoTimestamp {
		return nil
	}
	cutoff := s.observed - s.retention // entries with t < cutoff are dead
	if seg := s.segOf(cutoff); cutoff > 0 && seg > s.dropped+1 {
		// Keep the segment holding the cutoff; drop the ones before it.
		if err := s.flush(); err != nil {
			return err
		}
		lo := []byte{tsData}
		hi := binary.BigEndian.AppendUint64([]byte{tsData}, uint64(seg))
		if err := s.raw.DeleteRange(lo, hi); err != nil {
			return fmt.Errorf("store %q: expire: %w", s.raw.Name(), err)
		}
		for k, e := range s.cache {
			if !e.dirty && k[0] == tsData && int64(binary.BigEndian.Uint64([]byte(k[1:9]))) < seg {
				delete(s.cache, k)
			}
		}
		s.dropped = seg - 1
	}
	return nil
}

func (s *timeStore[V]) setEmitted(end int64) {
	if end > s.emitted {
		s.emitted = end
		s.metaSet = true
	}
}

// entry returns the cached entry for (key, t, aux), loading it on a miss.
// Only cached stores use entry.
func (s *timeStore[V]) entry(key []byte, t, aux int64) (string, *kvEntry[V], error) {
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	if e, ok := s.cache[string(s.kbuf)]; ok {
		return "", e, nil
	}
	if len(s.cache) >= s.max {
		if err := s.flush(); err != nil {
			return "", nil, err
		}
		clear(s.cache)
	}
	e := &kvEntry[V]{}
	b, ok, err := s.raw.Get(s.kbuf)
	if err != nil {
		return "", nil, fmt.Errorf("store %q: get: %w", s.raw.Name(), err)
	}
	if ok {
		v, err := s.vs.Deserialize(b)
		if err != nil {
			return "", nil, fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
		}
		e.v, e.present = v, true
	}
	k := string(s.kbuf)
	s.cache[k] = e
	return k, e, nil
}

func (s *timeStore[V]) markDirty(k string, e *kvEntry[V]) {
	if !e.dirty {
		e.dirty = true
		if k == "" {
			k = string(s.kbuf)
		}
		s.dirty = append(s.dirty, k)
	}
}

// getAny reads one entry even if it is past retention but not yet dropped.
func (s *timeStore[V]) getAny(key []byte, t, aux int64) (V, bool, error) {
	var zero V
	if s.cached {
		_, e, err := s.entry(key, t, aux)
		if err != nil {
			return zero, false, err
		}
		return e.v, e.present, nil
	}
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	b, ok, err := s.raw.Get(s.kbuf)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := s.vs.Deserialize(b)
	if err != nil {
		return zero, false, fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
	}
	return v, true, nil
}

// put writes one entry (through the cache when cached).
func (s *timeStore[V]) put(key []byte, t, aux int64, v V) error {
	if s.cached {
		k, e, err := s.entry(key, t, aux)
		if err != nil {
			return err
		}
		e.v, e.present = v, true
		s.markDirty(k, e)
		return nil
	}
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	b, err := s.vs.Serialize(s.vbuf[:0], v)
	if err != nil {
		return fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
	}
	s.vbuf = b
	return s.raw.Put(s.kbuf, b)
}

// del deletes one entry.
func (s *timeStore[V]) del(key []byte, t, aux int64) error {
	if s.cached {
		k, e, err := s.entry(key, t, aux)
		if err != nil {
			return err
		}
		var zero V
		e.v, e.present = zero, false
		s.markDirty(k, e)
		return nil
	}
	s.kbuf = s.rawKey(s.kbuf[:0], key, t, aux)
	return s.raw.Delete(s.kbuf)
}

// fetch calls fn for key's live entries with from <= t <= to, ascending by
// (t, aux). fn must not write to the store.
func (s *timeStore[V]) fetch(key []byte, from, to int64, fn func(t, aux int64, v V) bool) error {
	if s.cached {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if s.observed != NoTimestamp {
		from = max(from, s.observed-s.retention)
	}
	if from > to {
		return nil
	}
	var ferr error
	stop := false
	lo := make([]byte, 0, len(key)+32)
	hi := make([]byte, 0, len(key)+32)
	for seg := s.segOf(from); seg <= s.segOf(to) && !stop; seg++ {
		lo = s.segKey(lo[:0], seg, key, max(from, 0))
		hi = s.segKey(hi[:0], seg, key, to)
		hi = binary.BigEndian.AppendUint64(hi, math.MaxUint64)
		err := s.raw.Range(lo, append(hi, 0), func(rk, rv []byte) bool {
			_, t, aux, ok := parseTimeKey(rk)
			if !ok {
				ferr = fmt.Errorf("store %q: corrupt key %x", s.raw.Name(), rk)
				return false
			}
			v, err := s.vs.Deserialize(rv)
			if err != nil {
				ferr = fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
				return false
			}
			if !fn(t, aux, v) {
				stop = true
				return false
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("store %q: fetch: %w", s.raw.Name(), err)
		}
		if ferr != nil {
			return ferr
		}
	}
	return nil
}

// segKey encodes the prefix of key's entries in seg starting at t.
func (s *timeStore[V]) segKey(buf []byte, seg int64, key []byte, t int64) []byte {
	buf = append(buf, tsData)
	buf = binary.BigEndian.AppendUint64(buf, uint64(seg))
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	return binary.BigEndian.AppendUint64(buf, uint64(t))
}

// scan calls fn for every live entry with from <= t <= to, any key, in
// store order (segment, key, t).
func (s *timeStore[V]) scan(from, to int64, fn func(key []byte, t, aux int64, v V) bool) error {
	if s.observed != NoTimestamp {
		from = max(from, s.observed-s.retention)
	}
	return s.scanRaw(from, to, fn)
}

// scanRaw is scan including entries past retention not yet dropped.
func (s *timeStore[V]) scanRaw(from, to int64, fn func(key []byte, t, aux int64, v V) bool) error {
	if s.cached {
		if err := s.flush(); err != nil {
			return err
		}
	}
	if from > to {
		return nil
	}
	lo := binary.BigEndian.AppendUint64([]byte{tsData}, uint64(s.segOf(from)))
	hi := binary.BigEndian.AppendUint64([]byte{tsData}, uint64(s.segOf(to)+1))
	var ferr error
	err := s.raw.Range(lo, hi, func(rk, rv []byte) bool {
		key, t, aux, ok := parseTimeKey(rk)
		if !ok {
			ferr = fmt.Errorf("store %q: corrupt key %x", s.raw.Name(), rk)
			return false
		}
		if t < from || t > to {
			return true
		}
		v, err := s.vs.Deserialize(rv)
		if err != nil {
			ferr = fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
			return false
		}
		return fn(key, t, aux, v)
	})
	if err != nil {
		return fmt.Errorf("store %q: scan: %w", s.raw.Name(), err)
	}
	return ferr
}

func (s *timeStore[V]) flush() error {
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
		b, err := s.vs.Serialize(s.vbuf[:0], e.v)
		if err != nil {
			return fmt.Errorf("store %q: value: %w", s.raw.Name(), err)
		}
		s.vbuf = b
		if err := s.raw.Put([]byte(k), b); err != nil {
			return fmt.Errorf("store %q: put: %w", s.raw.Name(), err)
		}
	}
	s.dirty = s.dirty[:0]
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
