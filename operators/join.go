package operators

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// JoinWindows bound a stream–stream join: a left record at t joins right
// records with timestamps in [t-before, t+after].
type JoinWindows struct {
	before, after, grace int64
}

// JoinWindow joins records at most d apart in either direction.
func JoinWindow(d time.Duration) JoinWindows {
	return JoinWindows{before: d.Milliseconds(), after: d.Milliseconds()}
}

// Before sets how far before a left record a right record may be.
func (w JoinWindows) Before(d time.Duration) JoinWindows { w.before = d.Milliseconds(); return w }

// After sets how far after a left record a right record may be.
func (w JoinWindows) After(d time.Duration) JoinWindows { w.after = d.Milliseconds(); return w }

// Grace accepts records up to d late (default zero).
func (w JoinWindows) Grace(d time.Duration) JoinWindows { w.grace = d.Milliseconds(); return w }

const (
	pJoinThis  = "KSTREAM-JOINTHIS"
	pJoinOther = "KSTREAM-JOINOTHER"
	pJoinMerge = "KSTREAM-MERGE"
	pJoinTable = "KSTREAM-TABLE-JOIN"
	pTTJoin    = "KTABLE-KTABLE-JOIN"
)

type joinKind int

const (
	innerJoin joinKind = iota
	leftJoin
	outerJoin
)

func (k joinKind) String() string {
	return [...]string{"inner", "left", "outer"}[k]
}

// Join joins two streams by key within a time window: each pair of records
// with equal keys and timestamps within w produces joiner(key, l, r), with
// the later record's timestamp. Records later than the window plus grace
// are dropped. Both streams need serdes; re-keyed streams are
// repartitioned first.
func Join[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], joiner func(key K, l V1, r V2) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(left, right, innerJoin, func(k K, l *V1, r *V2) VR { return joiner(k, *l, *r) }, w, opts)
}

// LeftJoin is Join that also emits each left record that found no match,
// with r == nil, once its window has closed (stream time past its end plus
// grace) — never before, so a late-arriving match is not preceded by a
// spurious unmatched result.
func LeftJoin[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], joiner func(key K, l V1, r *V2) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(left, right, leftJoin, func(k K, l *V1, r *V2) VR { return joiner(k, *l, r) }, w, opts)
}

// OuterJoin emits matched pairs and, once their windows close, unmatched
// records of either side with the missing side nil.
func OuterJoin[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], joiner func(key K, l *V1, r *V2) VR, w JoinWindows, opts ...Option) Stream[K, VR] {
	return streamJoin(left, right, outerJoin, joiner, w, opts)
}

// coPartition makes both inputs of a join partitioned by their key and
// records that their source topics must have equal partition counts.
func coPartition[K, V1, V2 any](b *Builder, name string, l Stream[K, V1], r Stream[K, V2]) (Stream[K, V1], Stream[K, V2]) {
	if l.rekeyed {
		l = repartition(l, name+"-left", opOpts{})
	}
	if r.rekeyed {
		r = repartition(r, name+"-right", opOpts{})
	}
	group := upstreamSources(l.n, nil)
	group = upstreamSources(r.n, group)
	b.copart = append(b.copart, group)
	return l, r
}

func upstreamSources(n *node, acc []*node) []*node {
	if n.kind == kindSource {
		for _, x := range acc {
			if x == n {
				return acc
			}
		}
		return append(acc, n)
	}
	for _, p := range n.parents {
		acc = upstreamSources(p, acc)
	}
	return acc
}

func streamJoin[K, V1, V2, VR any](left Stream[K, V1], right Stream[K, V2], kind joinKind, joiner func(K, *V1, *V2) VR, w JoinWindows, opts []Option) Stream[K, VR] {
	b := left.b
	o := collect(opts)
	name := nameOr(o, pJoinThis, b)
	if right.b != b {
		b.errorf("%s: streams come from different builders", name)
		return Stream[K, VR]{b: b, n: left.n}
	}
	if w.before < 0 || w.after < 0 || w.grace < 0 || w.before+w.after < 0 {
		b.errorf("%s: join window bounds must not be negative", name)
	}
	if left.ks == nil || left.vs == nil || right.vs == nil {
		b.errorf("%s: both streams need serdes (WithSerdes) to be buffered for the join", name)
		return Stream[K, VR]{b: b, n: left.n}
	}
	left, right = coPartition(b, name, left, right)
	retention := w.before + w.after + w.grace
	so := storeOptsOf(o)
	lstore, rstore, ostore := name+"-this-STORE", name+"-other-STORE", name+"-outer-STORE"
	b.AddStore(&timeStoreDef[V1]{name: lstore, vs: left.vs, retention: retention, opts: so})
	b.AddStore(&timeStoreDef[V2]{name: rstore, vs: right.vs, retention: retention, opts: so})
	if kind != innerJoin {
		b.AddStore(&timeStoreDef[sided[V1, V2]]{name: ostore, vs: sidedSerde[V1, V2]{left.vs, right.vs}, retention: retention, opts: so})
	}
	ln := b.newNode(pJoinThis, name, kindProcessor, left.n)
	rn := b.newNode(pJoinOther, "", kindProcessor, right.n)
	mn := b.newNode(pJoinMerge, "", kindProcessor, ln, rn)
	for _, n := range []*node{ln, rn} {
		b.connectStore(n, lstore)
		b.connectStore(n, rstore)
		if kind != innerJoin {
			b.connectStore(n, ostore)
		}
	}
	mn.build = func(tk *Task) (any, error) { return fanout[K, VR](tk, mn) }
	ks := left.ks
	type env struct {
		ls  *timeStore[V1]
		rs  *timeStore[V2]
		os  *timeStore[sided[V1, V2]]
		out receiver[K, VR]
		seq int64
		kb  []byte
		// minHeld is a lower bound of the held records' timestamps
		// (math.MinInt64: unknown), so most records skip the scan.
		minHeld int64
		// The record being joined and the callbacks that pair it with
		// the other side's buffer, made once per task rather than per
		// record.
		lrec    Record[K, V1]
		rrec    Record[K, V2]
		matched bool
		withR   func(t, aux int64, rv V2) bool
		withL   func(t, aux int64, lv V1) bool
	}
	setup := func(tk *Task) (*env, error) {
		if e, ok := tk.shared[name].(*env); ok {
			return e, nil
		}
		e := &env{seq: time.Now().UnixNano(), minHeld: math.MinInt64}
		e.withR = func(t, _ int64, rv V2) bool {
			e.matched = true
			r := &e.lrec
			e.out.process(Record[K, VR]{Key: r.Key, Value: joiner(r.Key, &r.Value, &rv), Timestamp: max(r.Timestamp, t), Headers: r.Headers})
			return true
		}
		e.withL = func(t, _ int64, lv V1) bool {
			e.matched = true
			r := &e.rrec
			e.out.process(Record[K, VR]{Key: r.Key, Value: joiner(r.Key, &lv, &r.Value), Timestamp: max(r.Timestamp, t), Headers: r.Headers})
			return true
		}
		var err error
		if e.ls, err = storeFrom[*timeStore[V1]](tk, lstore); err != nil {
			return nil, err
		}
		if e.rs, err = storeFrom[*timeStore[V2]](tk, rstore); err != nil {
			return nil, err
		}
		if kind != innerJoin {
			if e.os, err = storeFrom[*timeStore[sided[V1, V2]]](tk, ostore); err != nil {
				return nil, err
			}
		}
		if e.out, err = receiverOf[K, VR](tk, mn); err != nil {
			return nil, err
		}
		tk.shared[name] = e
		return e, nil
	}
	// emitExpired emits held unmatched records whose window has closed.
	emitExpired := func(tk *Task, e *env, now int64) error {
		if e.os == nil {
			return nil
		}
		type dead struct {
			key    []byte
			t, aux int64
			v      sided[V1, V2]
		}
		var ds []dead
		// A held left record at t closes at t+after+grace, a right one at
		// t+before+grace; scan everything that could have closed.
		limit := now - w.grace - min(w.before, w.after) - 1
		if e.minHeld != math.MinInt64 && e.minHeld > limit {
			return nil
		}
		minHeld := limit + 1
		// Held records start at minHeld: scanning from there skips what
		// earlier scans emitted and deleted (tombstones in an LSM store).
		from := int64(0)
		if e.minHeld != math.MinInt64 {
			from = max(e.minHeld, 0)
		}
		err := e.os.scanRaw(from, limit, func(key []byte, t, aux int64, v sided[V1, V2]) bool {
			look := w.after
			if !v.left {
				look = w.before
			}
			if t+look+w.grace < now {
				ds = append(ds, dead{append([]byte(nil), key...), t, aux, v})
			} else {
				minHeld = min(minHeld, t)
			}
			return true
		})
		if err != nil {
			return err
		}
		e.minHeld = minHeld
		// Emit in timestamp order, as the records would have been.
		slices.SortFunc(ds, func(a, b dead) int {
			if c := cmp.Compare(a.t, b.t); c != 0 {
				return c
			}
			return cmp.Compare(a.aux, b.aux)
		})
		for _, d := range ds {
			k, err := ks.Deserialize(d.key)
			if err != nil {
				return err
			}
			if err := e.os.del(d.key, d.t, d.aux); err != nil {
				return err
			}
			var r VR
			if d.v.left {
				r = joiner(k, &d.v.l, nil)
			} else {
				r = joiner(k, nil, &d.v.r)
			}
			e.out.process(Record[K, VR]{Key: k, Value: r, Timestamp: d.t})
		}
		return nil
	}
	// Each side: buffer, drop if late, join with the other side's buffer.
	ln.build = func(tk *Task) (any, error) {
		e, err := setup(tk)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V1](func(r Record[K, V1]) {
			if r.Tombstone {
				return
			}
			ts := r.Timestamp
			tk.fail(e.ls.observe(ts))
			tk.fail(e.rs.observe(ts))
			now := e.ls.observed
			if ts+w.after+w.grace < now {
				tk.lateDropped++
				return
			}
			if e.kb, err = ks.Serialize(e.kb[:0], r.Key); err != nil {
				tk.fail(err)
				return
			}
			e.seq++
			if err := e.ls.put(e.kb, ts, e.seq, r.Value); err != nil {
				tk.fail(err)
				return
			}
			e.lrec, e.matched = r, false
			err := e.rs.fetch(e.kb, ts-w.before, ts+w.after, e.withR)
			matched := e.matched
			e.lrec = Record[K, V1]{}
			if err != nil {
				tk.fail(err)
				return
			}
			if e.os != nil {
				if matched && kind == outerJoin {
					tk.fail(unhold(e.os, e.kb, ts-w.before, ts+w.after, false))
				}
				if !matched {
					tk.fail(e.os.put(e.kb, ts, e.seq, sided[V1, V2]{left: true, l: r.Value}))
					e.minHeld = min(e.minHeld, ts)
				}
				tk.fail(e.os.observe(ts))
				tk.fail(emitExpired(tk, e, now))
			}
		}), nil
	}
	rn.build = func(tk *Task) (any, error) {
		e, err := setup(tk)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V2](func(r Record[K, V2]) {
			if r.Tombstone {
				return
			}
			ts := r.Timestamp
			tk.fail(e.ls.observe(ts))
			tk.fail(e.rs.observe(ts))
			now := e.rs.observed
			if ts+w.before+w.grace < now {
				tk.lateDropped++
				return
			}
			if e.kb, err = ks.Serialize(e.kb[:0], r.Key); err != nil {
				tk.fail(err)
				return
			}
			e.seq++
			if err := e.rs.put(e.kb, ts, e.seq, r.Value); err != nil {
				tk.fail(err)
				return
			}
			e.rrec, e.matched = r, false
			err := e.ls.fetch(e.kb, ts-w.after, ts+w.before, e.withL)
			matched := e.matched
			e.rrec = Record[K, V2]{}
			if err != nil {
				tk.fail(err)
				return
			}
			if e.os != nil {
				if matched {
					tk.fail(unhold(e.os, e.kb, ts-w.after, ts+w.before, true))
				}
				if !matched && kind == outerJoin {
					tk.fail(e.os.put(e.kb, ts, e.seq, sided[V1, V2]{r: r.Value}))
					e.minHeld = min(e.minHeld, ts)
				}
				tk.fail(e.os.observe(ts))
				tk.fail(emitExpired(tk, e, now))
			}
		}), nil
	}
	return Stream[K, VR]{b: b, n: mn, ks: left.ks}
}

// unhold deletes the held unmatched records of one side of key in [from, to]:
// they just found a match.
func unhold[V1, V2 any](os *timeStore[sided[V1, V2]], key []byte, from, to int64, left bool) error {
	type id struct{ t, aux int64 }
	var ids []id
	if err := os.fetch(key, from, to, func(t, aux int64, v sided[V1, V2]) bool {
		if v.left == left {
			ids = append(ids, id{t, aux})
		}
		return true
	}); err != nil {
		return err
	}
	for _, x := range ids {
		if err := os.del(key, x.t, x.aux); err != nil {
			return err
		}
	}
	return nil
}

// sided holds an unmatched record of either join side.
type sided[V1, V2 any] struct {
	left bool
	l    V1
	r    V2
}

type sidedSerde[V1, V2 any] struct {
	ls Serde[V1]
	rs Serde[V2]
}

func (s sidedSerde[V1, V2]) Serialize(dst []byte, v sided[V1, V2]) ([]byte, error) {
	if v.left {
		return s.ls.Serialize(append(dst, 'L'), v.l)
	}
	return s.rs.Serialize(append(dst, 'R'), v.r)
}

func (s sidedSerde[V1, V2]) Deserialize(b []byte) (sided[V1, V2], error) {
	var v sided[V1, V2]
	if len(b) == 0 {
		return v, fmt.Errorf("%w: empty join record", ErrSerde)
	}
	var err error
	switch b[0] {
	case 'L':
		v.left = true
		v.l, err = s.ls.Deserialize(b[1:])
	case 'R':
		v.r, err = s.rs.Deserialize(b[1:])
	default:
		err = fmt.Errorf("%w: bad join side %q", ErrSerde, b[0])
	}
	return v, err
}
