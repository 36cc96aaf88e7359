package operators

import (
	"container/heap"
	"time"
)

// WindowedStream is a grouped stream cut into windows, ready to aggregate.
type WindowedStream[K, V any] struct {
	g GroupedStream[K, V]
	w Windows
}

const (
	pWinAgg     = "KSTREAM-WINDOWED-AGGREGATE"
	pSlidingAgg = "KSTREAM-SLIDING-AGGREGATE"
	pSessionAgg = "KSTREAM-SESSION-AGGREGATE"
)

// WindowedBy cuts the grouped stream into windows: Tumbling, Hopping,
// Sliding or Session.
func (g GroupedStream[K, V]) WindowedBy(w Windows) WindowedStream[K, V] {
	return WindowedStream[K, V]{g: g, w: w}
}

// CountWindowed counts records per key and window. Options: Named,
// Materialized, EmitOnClose. (Windowed aggregations are functions, not
// methods, because a method returning Table[Windowed[K], ...] would make Go
// instantiate windows of windows without end.)
func CountWindowed[K, V any](w WindowedStream[K, V], opts ...Option) Table[Windowed[K], int64] {
	return windowAgg(w, func() int64 { return 0 }, func(_ K, _ V, _ int64, n int64, _ bool) int64 { return n + 1 },
		func(_ K, a, b int64) int64 { return a + b }, Int64, opts)
}

// ReduceWindowed combines each key's values per window.
func ReduceWindowed[K, V any](w WindowedStream[K, V], fn func(agg, value V) V, opts ...Option) Table[Windowed[K], V] {
	return windowAgg(w, nil, func(_ K, v V, _ int64, a V, first bool) V {
		if first {
			return v
		}
		return fn(a, v)
	}, func(_ K, a, b V) V { return fn(a, b) }, w.g.s.vs, opts)
}

// AggregateWindowed folds each key's values per window (tumbling, hopping or
// sliding windows; sessions need a merger: AggregateSessions).
func AggregateWindowed[K, V, A any](w WindowedStream[K, V], init func() A, fn func(key K, value V, acc A) A, aggSerde Serde[A], opts ...Option) Table[Windowed[K], A] {
	return AggregateWindowedTimed(w, init, func(k K, v V, _ int64, a A) A { return fn(k, v, a) }, aggSerde, opts...)
}

// AggregateWindowedTimed is AggregateWindowed with each record's timestamp
// passed to fn (see AggregateTimed). A sliding window's aggregate is folded
// again from its buffered records when the window is created, each with
// its own timestamp, so fn must not assume it sees records in time order.
func AggregateWindowedTimed[K, V, A any](w WindowedStream[K, V], init func() A, fn func(key K, value V, ts int64, acc A) A, aggSerde Serde[A], opts ...Option) Table[Windowed[K], A] {
	if _, ok := w.w.(SessionWindows); ok {
		w.g.s.b.errorf("AggregateWindowed over session windows: use AggregateSessions, which takes a merger")
	}
	return windowAgg(w, init, func(k K, v V, ts int64, a A, _ bool) A { return fn(k, v, ts, a) }, nil, aggSerde, opts)
}

// AggregateSessions folds each key's values per session; merge combines the
// accumulators of two sessions a new record bridges.
func AggregateSessions[K, V, A any](w WindowedStream[K, V], init func() A, fn func(key K, value V, acc A) A, merge func(key K, a, b A) A, aggSerde Serde[A], opts ...Option) Table[Windowed[K], A] {
	return AggregateSessionsTimed(w, init, func(k K, v V, _ int64, a A) A { return fn(k, v, a) }, merge, aggSerde, opts...)
}

// AggregateSessionsTimed is AggregateSessions with each record's timestamp
// passed to fn (see AggregateTimed).
func AggregateSessionsTimed[K, V, A any](w WindowedStream[K, V], init func() A, fn func(key K, value V, ts int64, acc A) A, merge func(key K, a, b A) A, aggSerde Serde[A], opts ...Option) Table[Windowed[K], A] {
	if _, ok := w.w.(SessionWindows); !ok {
		w.g.s.b.errorf("AggregateSessions needs session windows, got %T", w.w)
	}
	return windowAgg(w, init, func(k K, v V, ts int64, a A, _ bool) A { return fn(k, v, ts, a) }, merge, aggSerde, opts)
}

type windowFn[K, V, A any] struct {
	init  func() A
	agg   func(K, V, int64, A, bool) A
	merge func(K, A, A) A
}

func (f windowFn[K, V, A]) apply(k K, v V, ts int64, a A, present bool) A {
	if !present && f.init != nil {
		a = f.init()
	}
	return f.agg(k, v, ts, a, !present)
}

func windowAgg[K, V, A any](w WindowedStream[K, V], init func() A, fn func(K, V, int64, A, bool) A, merge func(K, A, A) A, aggSerde Serde[A], opts []Option) Table[Windowed[K], A] {
	b := w.g.s.b
	o := collect(opts)
	prefix := pWinAgg
	switch w.w.(type) {
	case SlidingWindows:
		prefix = pSlidingAgg
	case SessionWindows:
		prefix = pSessionAgg
	}
	name := nameOr(o, prefix, b)
	if !validateWindows(b, name, w.w) {
		return Table[Windowed[K], A]{b: b}
	}
	store := o.storeNameOr(name + storeSuffix)
	s := w.g.prepare(store)
	if s.ks == nil {
		b.errorf("%s: the grouped stream has no key serde; call WithSerdes first", name)
	}
	if aggSerde == nil {
		b.errorf("%s: no serde for the aggregate (for Reduce: the stream's value serde)", name)
	}
	n := b.newNode(prefix, name, kindProcessor, s.n)
	f := windowFn[K, V, A]{init: init, agg: fn, merge: merge}
	grace := w.w.graceMs()
	ks := s.ks
	switch ww := w.w.(type) {
	case TimeWindows:
		def := &timeStoreDef[A]{name: store, vs: aggSerde, retention: ww.size + grace, opts: storeOptsOf(o),
			bounds: func(t, _ int64) (int64, int64) { return t, t + ww.size }}
		b.AddStore(def)
		b.connectStore(n, store)
		n.build = func(tk *Task) (any, error) {
			out, err := fanout[Windowed[K], A](tk, n)
			if err != nil {
				return nil, err
			}
			ws, err := storeFrom[*timeStore[A]](tk, store)
			if err != nil {
				return nil, err
			}
			em := newEmitter(tk, ws, ks, out, o.emitFinal, grace, func(t, _ int64) (int64, int64, int64) { return t, t + ww.size, t + ww.size })
			if err := em.init(); err != nil {
				return nil, err
			}
			return timeWindowRecv(tk, ws, ww, ks, f, em), nil
		}
	case SlidingWindows:
		if s.vs == nil {
			b.errorf("%s: sliding windows buffer records and need the stream's value serde; call WithSerdes first", name)
		}
		def := &timeStoreDef[A]{name: store, vs: aggSerde, retention: grace + 1, opts: storeOptsOf(o),
			bounds: func(t, _ int64) (int64, int64) { return t - ww.size, t }}
		buf := store + "-BUFFER"
		bdef := &timeStoreDef[V]{name: buf, vs: s.vs, retention: ww.size + grace, opts: storeOptsOf(o)}
		b.AddStore(def)
		b.AddStore(bdef)
		b.connectStore(n, store)
		b.connectStore(n, buf)
		n.build = func(tk *Task) (any, error) {
			out, err := fanout[Windowed[K], A](tk, n)
			if err != nil {
				return nil, err
			}
			ws, err := storeFrom[*timeStore[A]](tk, store)
			if err != nil {
				return nil, err
			}
			rs, err := storeFrom[*timeStore[V]](tk, buf)
			if err != nil {
				return nil, err
			}
			em := newEmitter(tk, ws, ks, out, o.emitFinal, grace, func(t, _ int64) (int64, int64, int64) { return t - ww.size, t, t + 1 })
			if err := em.init(); err != nil {
				return nil, err
			}
			return slidingRecv(tk, ws, rs, ww, ks, f, em), nil
		}
	case SessionWindows:
		if merge == nil {
			b.errorf("%s: session windows need a merger", name)
		}
		def := &timeStoreDef[A]{name: store, vs: aggSerde, retention: ww.gap + grace, opts: storeOptsOf(o),
			bounds: func(t, aux int64) (int64, int64) { return aux, t }}
		b.AddStore(def)
		b.connectStore(n, store)
		n.build = func(tk *Task) (any, error) {
			out, err := fanout[Windowed[K], A](tk, n)
			if err != nil {
				return nil, err
			}
			ws, err := storeFrom[*timeStore[A]](tk, store)
			if err != nil {
				return nil, err
			}
			em := newEmitter(tk, ws, ks, out, o.emitFinal, grace, func(t, aux int64) (int64, int64, int64) { return aux, t, t + 1 })
			if err := em.init(); err != nil {
				return nil, err
			}
			return sessionRecv(tk, ws, ww, ks, f, em), nil
		}
	}
	var wks Serde[Windowed[K]]
	if ks != nil {
		wks = WindowedSerde(ks)
	}
	return Table[Windowed[K], A]{b: b, n: n, ks: wks, vs: aggSerde, store: store}
}

func storeOptsOf(o opOpts) storeOpts {
	var so storeOpts
	for _, f := range o.storeOpts {
		f(&so)
	}
	return so
}

// timeWindowRecv aggregates into tumbling or hopping windows.
func timeWindowRecv[K, V, A any](tk *Task, ws *timeStore[A], w TimeWindows, ks Serde[K], f windowFn[K, V, A], em *emitter[K, A]) receiver[K, V] {
	var kb []byte
	return recvFunc[K, V](func(r Record[K, V]) {
		if r.Tombstone {
			return
		}
		ts := r.Timestamp
		if err := ws.observe(ts); err != nil {
			tk.fail(err)
			return
		}
		closeTime := ws.observed - w.grace
		var err error
		if kb, err = ks.Serialize(kb[:0], r.Key); err != nil {
			tk.fail(err)
			return
		}
		last := ts - ts%w.advance
		first := last
		for first-w.advance > ts-w.size && first-w.advance >= 0 {
			first -= w.advance
		}
		for start := first; start <= last; start += w.advance {
			end := start + w.size
			if end <= closeTime {
				tk.lateDropped++
				continue
			}
			e, err := ws.entry(kb, start, 0)
			if err != nil {
				tk.fail(err)
				return
			}
			e.v = f.apply(r.Key, r.Value, r.Timestamp, e.v, e.present)
			e.present = true
			ws.markDirty(e)
			em.updated(r.Key, r.Timestamp, kb, start, 0, e.v)
		}
		em.closeUpTo(closeTime)
	})
}

// slidingRecv maintains, per record, the window [ts-size, ts].
func slidingRecv[K, V, A any](tk *Task, ws *timeStore[A], rs *timeStore[V], w SlidingWindows, ks Serde[K], f windowFn[K, V, A], em *emitter[K, A]) receiver[K, V] {
	var kb []byte
	seq := time.Now().UnixNano()
	type win struct {
		end int64
		a   A
	}
	var wins []win
	return recvFunc[K, V](func(r Record[K, V]) {
		if r.Tombstone {
			return
		}
		ts := r.Timestamp
		if err := ws.observe(ts); err != nil {
			tk.fail(err)
			return
		}
		if err := rs.observe(ts); err != nil {
			tk.fail(err)
			return
		}
		closeTime := ws.observed - w.grace
		if ts < closeTime {
			tk.lateDropped++
			return
		}
		var err error
		if kb, err = ks.Serialize(kb[:0], r.Key); err != nil {
			tk.fail(err)
			return
		}
		seq++
		if err := rs.put(kb, ts, seq, r.Value); err != nil {
			tk.fail(err)
			return
		}
		// Existing windows containing ts end in [ts, ts+size]; windows
		// are stored by their end (starts may be negative).
		wins = wins[:0]
		if err := ws.fetch(kb, ts, ts+w.size, func(end, _ int64, a A) bool {
			wins = append(wins, win{end, a})
			return true
		}); err != nil {
			tk.fail(err)
			return
		}
		own := false
		for _, x := range wins {
			if x.end == ts {
				own = true
			}
			a := f.apply(r.Key, r.Value, r.Timestamp, x.a, true)
			if err := ws.put(kb, x.end, 0, a); err != nil {
				tk.fail(err)
				return
			}
			em.updated(r.Key, r.Timestamp, kb, x.end, 0, a)
		}
		if !own {
			var a A
			present := false
			if err := rs.fetch(kb, ts-w.size, ts, func(t, _ int64, v V) bool {
				a = f.apply(r.Key, v, t, a, present)
				present = true
				return true
			}); err != nil {
				tk.fail(err)
				return
			}
			if err := ws.put(kb, ts, 0, a); err != nil {
				tk.fail(err)
				return
			}
			em.updated(r.Key, r.Timestamp, kb, ts, 0, a)
		}
		em.closeUpTo(closeTime)
	})
}

// sessionRecv merges each record with the sessions it touches.
func sessionRecv[K, V, A any](tk *Task, ws *timeStore[A], w SessionWindows, ks Serde[K], f windowFn[K, V, A], em *emitter[K, A]) receiver[K, V] {
	var kb []byte
	type sess struct {
		end, start int64
		a          A
	}
	var found []sess
	return recvFunc[K, V](func(r Record[K, V]) {
		if r.Tombstone {
			return
		}
		ts := r.Timestamp
		if err := ws.observe(ts); err != nil {
			tk.fail(err)
			return
		}
		closeTime := ws.observed - w.grace
		var err error
		if kb, err = ks.Serialize(kb[:0], r.Key); err != nil {
			tk.fail(err)
			return
		}
		found = found[:0]
		start, end := ts, ts
		if err := ws.fetch(kb, ts-w.gap, ws.observed, func(e, s int64, a A) bool {
			if s <= ts+w.gap {
				found = append(found, sess{e, s, a})
				start, end = min(start, s), max(end, e)
			}
			return true
		}); err != nil {
			tk.fail(err)
			return
		}
		if end < closeTime {
			tk.lateDropped++
			return
		}
		var a A
		present := false
		for _, s := range found {
			if !present {
				a, present = s.a, true
			} else {
				a = f.merge(r.Key, a, s.a)
			}
			if s.end == end && s.start == start {
				continue // overwritten below
			}
			if err := ws.del(kb, s.end, s.start); err != nil {
				tk.fail(err)
				return
			}
			em.removed(r.Key, r.Timestamp, s.start, s.end)
		}
		a = f.apply(r.Key, r.Value, r.Timestamp, a, present)
		if err := ws.put(kb, end, start, a); err != nil {
			tk.fail(err)
			return
		}
		em.updated(r.Key, r.Timestamp, kb, end, start, a)
		em.closeUpTo(closeTime)
	})
}

// emitter forwards window results: on every update, or once per window when
// it closes (EmitOnClose).
type emitter[K, A any] struct {
	tk    *Task
	ws    *timeStore[A]
	ks    Serde[K]
	out   receiver[Windowed[K], A]
	final bool
	grace int64
	// bounds maps a stored (t, aux) to the window's start, end and the
	// close time at which it is final.
	bounds  func(t, aux int64) (start, end, closeAt int64)
	pending pendingHeap
	in      map[pendingID]struct{}
}

type pendingID struct {
	key    string
	t, aux int64
}

type pendingWin struct {
	closeAt int64
	id      pendingID
}

type pendingHeap []pendingWin

func (h pendingHeap) Len() int { return len(h) }
func (h pendingHeap) Less(i, j int) bool {
	if h[i].closeAt != h[j].closeAt {
		return h[i].closeAt < h[j].closeAt
	}
	if h[i].id.key != h[j].id.key {
		return h[i].id.key < h[j].id.key
	}
	return h[i].id.t < h[j].id.t
}
func (h pendingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pendingHeap) Push(x any)   { *h = append(*h, x.(pendingWin)) }
func (h *pendingHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newEmitter[K, A any](tk *Task, ws *timeStore[A], ks Serde[K], out receiver[Windowed[K], A], final bool, grace int64, bounds func(t, aux int64) (int64, int64, int64)) *emitter[K, A] {
	return &emitter[K, A]{tk: tk, ws: ws, ks: ks, out: out, final: final, grace: grace, bounds: bounds, in: map[pendingID]struct{}{}}
}

// init rebuilds the pending set from a restored store.
func (e *emitter[K, A]) init() error {
	if !e.final {
		return nil
	}
	return e.ws.scan(0, 1<<62, func(key []byte, t, aux int64, _ A) bool {
		_, _, closeAt := e.bounds(t, aux)
		if closeAt > e.ws.emitted {
			e.add(key, t, aux, closeAt)
		}
		return true
	})
}

func (e *emitter[K, A]) add(key []byte, t, aux, closeAt int64) {
	id := pendingID{key: string(key), t: t, aux: aux}
	if _, ok := e.in[id]; ok {
		return
	}
	e.in[id] = struct{}{}
	heap.Push(&e.pending, pendingWin{closeAt: closeAt, id: id})
}

// updated reports a window's new aggregate.
func (e *emitter[K, A]) updated(k K, ts int64, key []byte, t, aux int64, a A) {
	start, end, closeAt := e.bounds(t, aux)
	if e.final {
		e.add(key, t, aux, closeAt)
		return
	}
	e.out.process(Record[Windowed[K], A]{Key: Windowed[K]{Key: k, Start: start, End: end}, Value: a, Timestamp: ts})
}

// removed reports a session merged away: a tombstone for its window.
func (e *emitter[K, A]) removed(k K, ts int64, start, end int64) {
	if e.final {
		return
	}
	e.out.process(Record[Windowed[K], A]{Key: Windowed[K]{Key: k, Start: start, End: end}, Timestamp: ts, Tombstone: true})
}

// closeUpTo emits (in EmitOnClose mode) every pending window whose close
// time is at or before closeTime. It runs at the end of each record, and
// the store drops expired segments only between records (at the task's
// flush), so a window is always emitted before its data can go.
func (e *emitter[K, A]) closeUpTo(closeTime int64) {
	for e.final && len(e.pending) > 0 && e.pending[0].closeAt <= closeTime {
		p := heap.Pop(&e.pending).(pendingWin)
		delete(e.in, p.id)
		v, ok, err := e.ws.getAny([]byte(p.id.key), p.id.t, p.id.aux)
		if err != nil {
			e.tk.fail(err)
			return
		}
		e.ws.setEmitted(p.closeAt)
		if !ok {
			continue // merged into another session
		}
		k, err := e.ks.Deserialize([]byte(p.id.key))
		if err != nil {
			e.tk.fail(err)
			return
		}
		start, end, _ := e.bounds(p.id.t, p.id.aux)
		e.out.process(Record[Windowed[K], A]{Key: Windowed[K]{Key: k, Start: start, End: end}, Value: v, Timestamp: p.closeAt - 1})
	}
}
