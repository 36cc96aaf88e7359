package operators

import "fmt"

// GroupedTable is a table regrouped by a new key, ready to aggregate (Kafka
// Streams' KGroupedTable). Unlike a grouped stream, whose records only add
// to an aggregate, a table's row can change or go: so every change of a
// row reaches the aggregation as the old value to take out (a subtractor)
// and the new value to put in (an adder), each under the group key it maps
// to. Moving a row to another group takes it out of the old group's
// aggregate and adds it to the new one.
type GroupedTable[K, V any] struct {
	s Stream[K, tableChange[V]]
}

// tableChange is one half of a row's change on its way to the aggregation:
// a value to add or to subtract.
type tableChange[V any] struct {
	add bool
	v   V
}

type tableChangeSerde[V any] struct{ vs Serde[V] }

func (s tableChangeSerde[V]) Serialize(dst []byte, c tableChange[V]) ([]byte, error) {
	flag := byte('-')
	if c.add {
		flag = '+'
	}
	return s.vs.Serialize(append(dst, flag), c.v)
}

func (s tableChangeSerde[V]) Deserialize(b []byte) (tableChange[V], error) {
	var c tableChange[V]
	if len(b) == 0 {
		return c, fmt.Errorf("%w: empty table change", ErrSerde)
	}
	switch b[0] {
	case '+':
		c.add = true
	case '-':
	default:
		return c, fmt.Errorf("%w: table change flag %q, want '+' or '-'", ErrSerde, b[0])
	}
	v, err := s.vs.Deserialize(b[1:])
	if err != nil {
		return c, err
	}
	c.v = v
	return c, nil
}

const (
	pTableGroupBy   = "KTABLE-SELECT"
	pTableAggregate = "KTABLE-AGGREGATE"
	pTableReduce    = "KTABLE-REDUCE"
)

// GroupTableBy regroups a table by the key and value fn maps each row to.
// The changes go through a repartition topic, so every group is
// aggregated in one task; keySerde and valueSerde encode them. The
// grouping keeps each row's last value in a store of its own (to know what
// to subtract), backed by a changelog like every store. Options: Named,
// Materialized (that store).
func GroupTableBy[K, V, KR, VR any](t Table[K, V], fn func(key K, value V) (KR, VR), keySerde Serde[KR], valueSerde Serde[VR], opts ...Option) GroupedTable[KR, VR] {
	b := t.b
	o := collect(opts)
	n := b.newNode(pTableGroupBy, o.name, kindProcessor, t.n)
	if keySerde == nil || valueSerde == nil {
		b.errorf("%s: key and value serdes are required", n.name)
	}
	if t.ks == nil || t.vs == nil {
		b.errorf("%s: the table has no serdes", n.name)
	}
	prior := o.storeNameOr(n.name + "-prior" + storeSuffix)
	b.AddStore(NewKeyValueStore(prior, t.ks, t.vs, o.storeOpts...))
	b.connectStore(n, prior)
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[KR, tableChange[VR]](tk, n)
		if err != nil {
			return nil, err
		}
		kv, err := storeFrom[*cachedKV[K, V]](tk, prior)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			send := func(v V, add bool) {
				kr, vr := fn(r.Key, v)
				out.process(Record[KR, tableChange[VR]]{Key: kr, Value: tableChange[VR]{add: add, v: vr}, Timestamp: r.Timestamp,
					Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
			}
			old, had, err := kv.Get(r.Key)
			if err != nil {
				tk.fail(err)
				return
			}
			// Out of the old group first, then into the new one.
			if had {
				send(old, false)
			}
			if r.Tombstone {
				if had {
					tk.fail(kv.Delete(r.Key))
				}
				return
			}
			send(r.Value, true)
			tk.fail(kv.Put(r.Key, r.Value))
		}), nil
	}
	s := Stream[KR, tableChange[VR]]{b: b, n: n, ks: keySerde, vs: tableChangeSerde[VR]{valueSerde}}
	if keySerde != nil && valueSerde != nil {
		s = repartition(s, n.name, opOpts{})
	}
	return GroupedTable[KR, VR]{s: s}
}

// Count counts the rows in each group.
func (g GroupedTable[K, V]) Count(opts ...Option) Table[K, int64] {
	return AggregateTable(g, func() int64 { return 0 },
		func(_ K, _ V, n int64) int64 { return n + 1 },
		func(_ K, _ V, n int64) int64 { return n - 1 }, Int64, opts...)
}

// Reduce combines each group's values with adder, and takes a value that
// left the group out with subtractor. The first value of a group stands
// alone. The value serde of the grouping encodes the result.
func (g GroupedTable[K, V]) Reduce(adder, subtractor func(agg, value V) V, opts ...Option) Table[K, V] {
	vs := Serde[V](nil)
	if cs, ok := g.s.vs.(tableChangeSerde[V]); ok {
		vs = cs.vs
	}
	return tableAgg(g, pTableReduce, nil, func(_ K, v V, agg V, present bool) V {
		if !present {
			return v
		}
		return adder(agg, v)
	}, func(_ K, v V, agg V) V { return subtractor(agg, v) }, vs, opts)
}

// AggregateTable folds each group's rows into an accumulator starting from
// init(): adder puts a row's value in, subtractor takes it out when the
// row changes, moves to another group or is deleted. For the result to
// stay right, subtractor must undo adder.
func AggregateTable[K, V, A any](g GroupedTable[K, V], init func() A, adder, subtractor func(key K, value V, acc A) A, aggSerde Serde[A], opts ...Option) Table[K, A] {
	return tableAgg(g, pTableAggregate, init, func(k K, v V, acc A, _ bool) A { return adder(k, v, acc) }, subtractor, aggSerde, opts)
}

func tableAgg[K, V, A any](g GroupedTable[K, V], prefix string, init func() A, add func(K, V, A, bool) A, sub func(K, V, A) A, aggSerde Serde[A], opts []Option) Table[K, A] {
	s := g.s
	b := s.b
	o := collect(opts)
	name := nameOr(o, prefix, b)
	store := o.storeNameOr(name + storeSuffix)
	if aggSerde == nil {
		b.errorf("%s: no serde for the aggregate", name)
	}
	n := b.newNode(prefix, name, kindProcessor, s.n)
	b.AddStore(NewKeyValueStore(store, s.ks, aggSerde, o.storeOpts...))
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
		return recvFunc[K, tableChange[V]](func(r Record[K, tableChange[V]]) {
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
			if !e.present && init != nil {
				e.v, e.present = init(), true
			}
			if r.Value.add {
				e.v = add(r.Key, r.Value.v, e.v, e.present)
				e.present = true
			} else if e.present {
				e.v = sub(r.Key, r.Value.v, e.v)
			} else {
				// A subtraction for a group with no aggregate: its
				// addition was lost with state that had no changelog.
				tk.log.Warn("table aggregation: value to subtract from a group with no aggregate", "store", store)
				return
			}
			e.ts = tk.streamTime
			kv.markDirty(kb, e)
			out.process(Record[K, A]{Key: r.Key, Value: e.v, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Table[K, A]{b: b, n: n, ks: s.ks, vs: aggSerde, store: store}
}
