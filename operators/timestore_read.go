package operators

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/RaduBerinde/btreemap"
)

// Range reads of a timeStore: the cache's pending writes merged over the
// raw store. A read is the innermost loop of joins, sliding windows and
// sessions, so its state lives in a reader kept by the store, with its
// callbacks bound once, instead of in closures allocated per call; a read
// nested in another's callback (not something the DSL does) gets a reader
// of its own.
type tsReader[V any] struct {
	s    *timeStore[V]
	pend []*tsEntry[V]
	i    int
	stop bool
	err  error
	// per call
	key     func(rk []byte, v V) bool // iterate's fn
	fetchFn func(t, aux int64, v V) bool
	scanFn  func(key []byte, t, aux int64, v V) bool
	from    int64
	to      int64
	lo, hi  []byte // key buffers
	// bound once
	onRaw     func(rk, rv []byte) bool
	onPending func(string, *tsEntry[V]) bool
	onFetch   func(rk []byte, v V) bool
	onScan    func(rk []byte, v V) bool
}

func newTSReader[V any](s *timeStore[V]) *tsReader[V] {
	r := &tsReader[V]{s: s}
	r.onRaw = r.raw
	r.onPending = func(_ string, e *tsEntry[V]) bool { r.pend = append(r.pend, e); return true }
	r.onFetch = r.fetchEntry
	r.onScan = r.scanEntry
	return r
}

// reader returns the store's reader, or a new one for a nested read;
// release it when done.
func (s *timeStore[V]) reader() *tsReader[V] {
	if s.busy {
		return newTSReader(s)
	}
	if s.rd == nil {
		s.rd = newTSReader(s)
	}
	s.busy = true
	return s.rd
}

func (r *tsReader[V]) release() {
	clear(r.pend)
	r.pend = r.pend[:0]
	r.key, r.fetchFn, r.scanFn = nil, nil, nil
	if r == r.s.rd {
		r.s.busy = false
	}
}

// bstr views b as a string for a lookup that does not keep it.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// iterate calls fn for every entry with a raw key in [lo, hi), merging the
// cache's pending writes over the raw store, in raw-key order. fn must not
// write to the store.
func (r *tsReader[V]) iterate(lo, hi []byte, fn func(rk []byte, v V) bool) error {
	s := r.s
	r.pend, r.i, r.stop, r.err, r.key = r.pend[:0], 0, false, nil, fn
	if s.dirty.Len() > 0 {
		s.dirty.AscendFunc(btreemap.GE(bstr(lo)), btreemap.LT(bstr(hi)), r.onPending)
	}
	if err := s.raw.Range(lo, hi, r.onRaw); err != nil {
		return fmt.Errorf("store %q: range: %w", s.raw.Name(), err)
	}
	if r.err != nil {
		return r.err
	}
	if !r.stop {
		r.pending(nil)
	}
	return nil
}

// pending hands over pending entries ordered before rk (all of them when
// rk is nil); it reports whether rk itself is pending (and so shadows the
// raw store's entry).
func (r *tsReader[V]) pending(rk []byte) (shadowed bool) {
	for r.i < len(r.pend) && (rk == nil || r.pend[r.i].key < string(rk)) {
		e := r.pend[r.i]
		r.i++
		if e.present && !r.key([]byte(e.key), e.v) {
			r.stop = true
			return false
		}
	}
	if rk != nil && r.i < len(r.pend) && r.pend[r.i].key == string(rk) {
		e := r.pend[r.i]
		r.i++
		if e.present && !r.key(rk, e.v) {
			r.stop = true
		}
		return true
	}
	return false
}

func (r *tsReader[V]) raw(rk, rv []byte) bool {
	if len(r.pend) > 0 && (r.pending(rk) || r.stop) {
		return !r.stop
	}
	v, err := r.s.vs.Deserialize(rv)
	if err != nil {
		r.err = fmt.Errorf("store %q: value at key %x: %w", r.s.raw.Name(), rk, err)
		return false
	}
	if !r.key(rk, v) {
		r.stop = true
		return false
	}
	return true
}

func (r *tsReader[V]) fetchEntry(rk []byte, v V) bool {
	_, t, aux, ok := parseTimeKey(rk)
	if !ok {
		r.err = fmt.Errorf("store %q: corrupt key %x", r.s.raw.Name(), rk)
		return false
	}
	return r.fetchFn(t, aux, v)
}

func (r *tsReader[V]) scanEntry(rk []byte, v V) bool {
	key, t, aux, ok := parseTimeKey(rk)
	if !ok {
		r.err = fmt.Errorf("store %q: corrupt key %x", r.s.raw.Name(), rk)
		return false
	}
	if t < r.from || t > r.to {
		return true
	}
	return r.scanFn(key, t, aux, v)
}

// fetch calls fn for key's live entries with from <= t <= to, ascending by
// (t, aux). fn must not write to the store.
func (s *timeStore[V]) fetch(key []byte, from, to int64, fn func(t, aux int64, v V) bool) error {
	if s.observed != NoTimestamp {
		from = max(from, s.observed-s.retention)
	}
	to = min(to, max(s.observed, s.highT))
	from = max(from, 0)
	if from > to {
		return nil
	}
	r := s.reader()
	defer r.release()
	r.fetchFn = fn
	lo, hi := r.lo[:0], r.hi[:0]
	for seg := s.segOf(from); seg <= s.segOf(to); seg++ {
		lo = s.segKey(lo[:0], seg, key, from)
		hi = s.segKey(hi[:0], seg, key, to)
		hi = append(binary.BigEndian.AppendUint64(hi, math.MaxUint64), 0)
		if err := r.iterate(lo, hi, r.onFetch); err != nil {
			return fmt.Errorf("store %q: fetch: %w", s.raw.Name(), err)
		}
		if r.stop {
			break
		}
	}
	r.lo, r.hi = lo, hi
	return nil
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
	to = min(to, max(s.observed, s.highT))
	if from > to {
		return nil
	}
	r := s.reader()
	defer r.release()
	r.scanFn, r.from, r.to = fn, from, to
	lo := binary.BigEndian.AppendUint64(append(r.lo[:0], tsData), uint64(s.segOf(from)))
	hi := binary.BigEndian.AppendUint64(append(r.hi[:0], tsData), uint64(s.segOf(to)+1))
	r.lo, r.hi = lo, hi
	if err := r.iterate(lo, hi, r.onScan); err != nil {
		return fmt.Errorf("store %q: scan: %w", s.raw.Name(), err)
	}
	return nil
}
