package operators

import "fmt"

// Table is a changelog stream interpreted as a table: the latest value per
// key, where a tombstone deletes the key. Every table is materialized in a
// key-value store, so it can be joined and queried.
type Table[K, V any] struct {
	b     *Builder
	n     *node
	ks    Serde[K]
	vs    Serde[V]
	store string
	// rekeyed tables (from a grouping on a new key) are partitioned by
	// their key already: aggregation repartitioned them.
}

const (
	pTableSource = "KTABLE-SOURCE"
	pToStream    = "KTABLE-TOSTREAM"
	pToTable     = "KSTREAM-TOTABLE"
	pTableFilter = "KTABLE-FILTER"
	pTableMapV   = "KTABLE-MAPVALUES"
	storeSuffix  = "-STATE-STORE"
)

// TableOf reads topic as a table (keys must be set; a null value deletes).
// Options: Named, Materialized, TimestampFrom.
func TableOf[K, V any](b *Builder, topic string, keySerde Serde[K], valueSerde Serde[V], opts ...Option) Table[K, V] {
	o := collect(opts)
	if keySerde == nil || valueSerde == nil {
		b.errorf("table %q: key and value serdes are required", topic)
	}
	src := b.source("", pSource, topic, false)
	ext := extractorFor[K, V](b, "table "+topic, o)
	src.build = sourceBuild(src, keySerde, valueSerde, ext, true)
	s := Stream[K, V]{b: b, n: src, ks: keySerde, vs: valueSerde}
	return materialize(s, pTableSource, o)
}

// ToTable turns a stream into a table: each record upserts its key, a
// tombstone deletes it. A re-keyed stream is repartitioned first.
func (s Stream[K, V]) ToTable(opts ...Option) Table[K, V] {
	o := collect(opts)
	if s.rekeyed {
		s = repartition(s, nameOr(o, pToTable, s.b), o)
	}
	return materialize(s, pToTable, o)
}

// materialize adds a node that writes every change of s to a new store and
// forwards it.
func materialize[K, V any](s Stream[K, V], prefix string, o opOpts) Table[K, V] {
	n := s.b.newNode(prefix, o.name, kindProcessor, s.n)
	store := o.storeNameOr(n.name + storeSuffix)
	def := NewKeyValueStore(store, s.ks, s.vs, o.storeOpts...)
	s.b.AddStore(def)
	s.b.connectStore(n, store)
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V](tk, n)
		if err != nil {
			return nil, err
		}
		kv, err := storeFrom[*cachedKV[K, V]](tk, store)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			var err error
			if r.Tombstone {
				err = kv.Delete(r.Key)
			} else {
				err = kv.Put(r.Key, r.Value)
			}
			if err != nil {
				tk.fail(err)
				return
			}
			out.process(r)
		}), nil
	}
	return Table[K, V]{b: s.b, n: n, ks: s.ks, vs: s.vs, store: store}
}

// StoreName is the name of the store holding the table.
func (t Table[K, V]) StoreName() string { return t.store }

// Store returns the definition of the table's store, to read it from a
// processor (connect it with Process's stores) or a test driver.
func (t Table[K, V]) Store() *KeyValueStoreDef[K, V] {
	if e, ok := t.b.stores[t.store]; ok {
		if d, ok := e.def.(*KeyValueStoreDef[K, V]); ok {
			return d
		}
	}
	return NewKeyValueStore(t.store, t.ks, t.vs)
}

// ToStream is the table's changelog as a stream; deletes are tombstones.
func (t Table[K, V]) ToStream(opts ...Option) Stream[K, V] {
	n := t.b.newNode(pToStream, collect(opts).name, kindProcessor, t.n)
	n.build = func(tk *Task) (any, error) { return fanout[K, V](tk, n) }
	return Stream[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs}
}

// Filter keeps the rows pred accepts; a row that stops matching is deleted
// downstream (a tombstone is forwarded). The result is materialized.
func (t Table[K, V]) Filter(pred func(key K, value V) bool, opts ...Option) Table[K, V] {
	o := collect(opts)
	n := t.b.newNode(pTableFilter, o.name, kindProcessor, t.n)
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			if !r.Tombstone && !pred(r.Key, r.Value) {
				var zero V
				r.Value, r.Tombstone = zero, true
			}
			out.process(r)
		}), nil
	}
	s := Stream[K, V]{b: t.b, n: n, ks: t.ks, vs: t.vs}
	o.name = ""
	return materialize(s, pToTable, o)
}

// MapTableValues transforms a table's values; the result is materialized
// with valueSerde.
func MapTableValues[K, V, V2 any](t Table[K, V], fn func(key K, value V) V2, valueSerde Serde[V2], opts ...Option) Table[K, V2] {
	o := collect(opts)
	n := t.b.newNode(pTableMapV, o.name, kindProcessor, t.n)
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V2](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			r2 := Record[K, V2]{Key: r.Key, Timestamp: r.Timestamp, Headers: r.Headers, Tombstone: r.Tombstone, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
			if !r.Tombstone {
				r2.Value = fn(r.Key, r.Value)
			}
			out.process(r2)
		}), nil
	}
	if valueSerde == nil {
		t.b.errorf("%s: value serde is required", n.name)
	}
	s := Stream[K, V2]{b: t.b, n: n, ks: t.ks, vs: valueSerde}
	o.name = ""
	return materialize(s, pToTable, o)
}

func (t Table[K, V]) String() string { return fmt.Sprintf("Table(%s)", t.store) }
