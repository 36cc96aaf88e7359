package operators

// GroupedStream is a stream grouped by key, ready to aggregate. Records with
// equal keys are processed by one task: if the key changed since the
// source, the aggregation first repartitions through an internal topic.
type GroupedStream[K, V any] struct {
	s    Stream[K, V]
	name string
}

const (
	pAggregate = "KSTREAM-AGGREGATE"
	pReduce    = "KSTREAM-REDUCE"
)

// GroupByKey groups by the current key. Options: Named (names the
// repartition topic, if one is needed).
func (s Stream[K, V]) GroupByKey(opts ...Option) GroupedStream[K, V] {
	return GroupedStream[K, V]{s: s, name: collect(opts).name}
}

// GroupBy groups by a new key computed by fn; keySerde encodes it for the
// repartition topic.
func GroupBy[K, V, KR any](s Stream[K, V], fn func(key K, value V) KR, keySerde Serde[KR], opts ...Option) GroupedStream[KR, V] {
	sk := SelectKey(s, fn).WithSerdes(keySerde, s.vs)
	return GroupedStream[KR, V]{s: sk, name: collect(opts).name}
}

// prepare repartitions the grouped stream if its key changed.
func (g GroupedStream[K, V]) prepare(storeName string) Stream[K, V] {
	if !g.s.rekeyed {
		return g.s
	}
	base := g.name
	if base == "" {
		base = storeName
	}
	return repartition(g.s, base, opOpts{})
}

// Count counts records per key. Options: Named, Materialized.
func (g GroupedStream[K, V]) Count(opts ...Option) Table[K, int64] {
	return Aggregate(g, func() int64 { return 0 }, func(_ K, _ V, n int64) int64 { return n + 1 }, Int64, opts...)
}

// Reduce combines each key's values with fn (the first value stands alone).
func (g GroupedStream[K, V]) Reduce(fn func(agg, value V) V, opts ...Option) Table[K, V] {
	return aggregate(g, pReduce, nil, func(_ K, v V, _ int64, agg V, first bool) V {
		if first {
			return v
		}
		return fn(agg, v)
	}, g.s.vs, opts)
}

// Aggregate folds each key's values into an accumulator, starting from
// init(). aggSerde encodes the accumulator in the store and changelog.
func Aggregate[K, V, A any](g GroupedStream[K, V], init func() A, fn func(key K, value V, acc A) A, aggSerde Serde[A], opts ...Option) Table[K, A] {
	return aggregate(g, pAggregate, init, func(k K, v V, _ int64, a A, _ bool) A { return fn(k, v, a) }, aggSerde, opts)
}

// AggregateTimed is Aggregate with each record's timestamp (event time)
// passed to fn, for accumulators that depend on time rather than on
// arrival order: the first or last value by event time, a rate, the time
// of the latest change. Records can arrive out of order; fn sees them in
// arrival order with their own timestamps.
func AggregateTimed[K, V, A any](g GroupedStream[K, V], init func() A, fn func(key K, value V, ts int64, acc A) A, aggSerde Serde[A], opts ...Option) Table[K, A] {
	return aggregate(g, pAggregate, init, func(k K, v V, ts int64, a A, _ bool) A { return fn(k, v, ts, a) }, aggSerde, opts)
}

func aggregate[K, V, A any](g GroupedStream[K, V], prefix string, init func() A, fn func(K, V, int64, A, bool) A, aggSerde Serde[A], opts []Option) Table[K, A] {
	b := g.s.b
	o := collect(opts)
	name := nameOr(o, prefix, b)
	store := o.storeNameOr(name + storeSuffix)
	s := g.prepare(store)
	if s.ks == nil {
		b.errorf("%s: the grouped stream has no key serde; call WithSerdes first", name)
	}
	if aggSerde == nil {
		b.errorf("%s: no serde for the aggregate (for Reduce: the stream's value serde)", name)
	}
	n := b.newNode(prefix, name, kindProcessor, s.n)
	def := NewKeyValueStore(store, s.ks, aggSerde, o.storeOpts...)
	b.AddStore(def)
	b.connectStore(n, store)
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, A](tk, n)
		if err != nil {
			return nil, err
		}
		kv, err := storeFrom[*cachedKV[K, A]](tk, store)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			if r.Tombstone {
				return
			}
			kb, err := kv.key(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			e, err := kv.entry(kb)
			if err != nil {
				tk.fail(err)
				return
			}
			first := !e.present
			if first && init != nil {
				e.v = init()
			}
			e.v = fn(r.Key, r.Value, r.Timestamp, e.v, first)
			e.present, e.ts = true, tk.streamTime
			kv.markDirty(kb, e)
			out.process(Record[K, A]{Key: r.Key, Value: e.v, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Table[K, A]{b: b, n: n, ks: s.ks, vs: aggSerde, store: store}
}
