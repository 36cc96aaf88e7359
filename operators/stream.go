package operators

import "fmt"

// Stream is a typed record stream: every record is an independent event.
// Streams are values; operations return new streams and leave the receiver
// usable, so one stream can feed several operations.
type Stream[K, V any] struct {
	b  *Builder
	n  *node
	ks Serde[K]
	vs Serde[V]
	// rekeyed is set once the key may have changed since the source, so a
	// later grouping or join must repartition by the new key.
	rekeyed bool
}

// Node name prefixes, as in Kafka Streams.
const (
	pSource    = "KSTREAM-SOURCE"
	pSink      = "KSTREAM-SINK"
	pFilter    = "KSTREAM-FILTER"
	pMap       = "KSTREAM-MAP"
	pMapValues = "KSTREAM-MAPVALUES"
	pFlatMap   = "KSTREAM-FLATMAP"
	pKey       = "KSTREAM-KEY-SELECT"
	pBranch    = "KSTREAM-BRANCH"
	pBranchC   = "KSTREAM-BRANCHCHILD"
	pMerge     = "KSTREAM-MERGE"
	pPeek      = "KSTREAM-PEEK"
	pForeach   = "KSTREAM-FOREACH"
	pProcess   = "KSTREAM-PROCESSOR"
)

// StreamOf reads topic as a stream. Options: Named, TimestampFrom.
func StreamOf[K, V any](b *Builder, topic string, keySerde Serde[K], valueSerde Serde[V], opts ...Option) Stream[K, V] {
	o := collect(opts)
	n := b.source(o.name, pSource, topic, false)
	if keySerde == nil || valueSerde == nil {
		b.errorf("stream %q: key and value serdes are required", topic)
	}
	ext := extractorFor[K, V](b, "stream "+topic, o)
	n.build = sourceBuild(n, keySerde, valueSerde, ext, false)
	return Stream[K, V]{b: b, n: n, ks: keySerde, vs: valueSerde}
}

func (b *Builder) source(name, prefix, topic string, internal bool) *node {
	n := b.newNode(prefix, name, kindSource)
	n.topic, n.internal = topic, internal
	if topic == "" {
		b.errorf("source %q: empty topic name", n.name)
	} else if prev, dup := b.topics[topic]; dup {
		b.errorf("topic %q is read by two sources (%q and %q); read it once and reuse the stream", topic, prev.name, n.name)
	} else {
		b.topics[topic] = n
	}
	return n
}

// sourceBuild decodes raw input and forwards it. Sources register a topic
// handler with the task instead of returning a receiver.
func sourceBuild[K, V any](n *node, ks Serde[K], vs Serde[V], ext func(K, V, int64) int64, table bool) func(tk *Task) (any, error) {
	return func(tk *Task) (any, error) {
		out, err := fanout[K, V](tk, n)
		if err != nil {
			return nil, err
		}
		topic := tk.topicName(TopicInfo{Name: n.topic, Internal: n.internal})
		tk.sources[topic] = func(in *InputRecord) error {
			r := Record[K, V]{Timestamp: in.Timestamp, Headers: in.Headers, Topic: in.Topic, Partition: in.Partition, Offset: in.Offset}
			var err error
			if in.Key != nil {
				if r.Key, err = ks.Deserialize(in.Key); err != nil {
					return &BadRecordError{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Err: fmt.Errorf("key: %w", err)}
				}
			}
			if in.Value == nil {
				r.Tombstone = true
			} else if r.Value, err = vs.Deserialize(in.Value); err != nil {
				return &BadRecordError{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Err: fmt.Errorf("value: %w", err)}
			}
			if ext != nil {
				r.Timestamp = ext(r.Key, r.Value, in.Timestamp)
			}
			if r.Timestamp < 0 {
				return &BadRecordError{Topic: in.Topic, Partition: in.Partition, Offset: in.Offset, Err: fmt.Errorf("negative timestamp %d", r.Timestamp)}
			}
			tk.advance(r.Timestamp)
			out.process(r)
			return nil
		}
		return nil, nil
	}
}

// Builder returns the builder this stream belongs to.
func (s Stream[K, V]) Builder() *Builder { return s.b }

// WithSerdes sets the serdes used when the stream is written to a topic,
// repartitioned, grouped or joined. Operations that change types (Map,
// MapValues, ...) cannot know the new serdes; set them here.
func (s Stream[K, V]) WithSerdes(keySerde Serde[K], valueSerde Serde[V]) Stream[K, V] {
	s.ks, s.vs = keySerde, valueSerde
	return s
}

// derive makes a processor node fed by s.
func derive[K, V any](s Stream[K, V], prefix string, o opOpts) *node {
	return s.b.newNode(prefix, o.name, kindProcessor, s.n)
}

// Filter keeps the records pred accepts.
func (s Stream[K, V]) Filter(pred func(key K, value V) bool, opts ...Option) Stream[K, V] {
	n := derive(s, pFilter, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			if pred(r.Key, r.Value) {
				out.process(r)
			}
		}), nil
	}
	s.n = n
	return s
}

// FilterNot drops the records pred accepts.
func (s Stream[K, V]) FilterNot(pred func(key K, value V) bool, opts ...Option) Stream[K, V] {
	return s.Filter(func(k K, v V) bool { return !pred(k, v) }, opts...)
}

// Peek calls fn for every record and passes it on unchanged.
func (s Stream[K, V]) Peek(fn func(key K, value V), opts ...Option) Stream[K, V] {
	n := derive(s, pPeek, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) { fn(r.Key, r.Value); out.process(r) }), nil
	}
	s.n = n
	return s
}

// Foreach calls fn for every record; it ends the stream.
func (s Stream[K, V]) Foreach(fn func(key K, value V), opts ...Option) {
	n := derive(s, pForeach, collect(opts))
	n.build = func(tk *Task) (any, error) {
		return recvFunc[K, V](func(r Record[K, V]) { fn(r.Key, r.Value) }), nil
	}
}

// Merge interleaves s and other into one stream.
func (s Stream[K, V]) Merge(other Stream[K, V], opts ...Option) Stream[K, V] {
	if other.b != s.b {
		s.b.errorf("merge: streams come from different builders")
		return s
	}
	n := s.b.newNode(pMerge, collect(opts).name, kindProcessor, s.n, other.n)
	n.build = func(tk *Task) (any, error) { return fanout[K, V](tk, n) }
	s.n = n
	s.rekeyed = s.rekeyed || other.rekeyed
	if s.ks == nil {
		s.ks = other.ks
	}
	if s.vs == nil {
		s.vs = other.vs
	}
	return s
}

// Branch splits the stream: each record goes to the first branch whose
// predicate accepts it, or nowhere. Use a predicate that always returns true
// last for a default branch.
func (s Stream[K, V]) Branch(preds ...func(key K, value V) bool) []Stream[K, V] {
	if len(preds) == 0 {
		s.b.errorf("branch: no predicates")
		return nil
	}
	bn := derive(s, pBranch, opOpts{})
	outs := make([]Stream[K, V], len(preds))
	kids := make([]*node, len(preds))
	for i := range preds {
		c := s.b.newNode(pBranchC, "", kindProcessor, bn)
		kids[i] = c
		c.build = func(tk *Task) (any, error) { return fanout[K, V](tk, c) }
		o := s
		o.n = c
		outs[i] = o
	}
	bn.build = func(tk *Task) (any, error) {
		rs := make([]receiver[K, V], len(kids))
		for i, c := range kids {
			r, err := receiverOf[K, V](tk, c)
			if err != nil {
				return nil, err
			}
			rs[i] = r
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			for i, p := range preds {
				if p(r.Key, r.Value) {
					rs[i].process(r)
					return
				}
			}
		}), nil
	}
	return outs
}

// To writes the stream to topic with the stream's serdes. Tombstones are
// written as null values.
func (s Stream[K, V]) To(topic string, opts ...Option) {
	if s.ks == nil || s.vs == nil {
		s.b.errorf("to %q: the stream has no serdes; call WithSerdes first", topic)
	}
	sinkNode(s, topic, false, collect(opts))
}

func sinkNode[K, V any](s Stream[K, V], topic string, internal bool, o opOpts) *node {
	n := s.b.newNode(pSink, o.name, kindSink, s.n)
	n.topic, n.internal, n.partitions = topic, internal, o.partitions
	if topic == "" {
		s.b.errorf("sink %q: empty topic name", n.name)
	}
	ks, vs := s.ks, s.vs
	n.build = func(tk *Task) (any, error) {
		name := tk.topicName(TopicInfo{Name: topic, Internal: internal})
		// Key and value share one allocation the receiver owns, or, when
		// the environment copies (TaskConfig.ReuseBuffers), one scratch
		// buffer reused for every record.
		size := 64
		reuse := tk.cfg.ReuseBuffers
		var scratch []byte
		return recvFunc[K, V](func(r Record[K, V]) {
			var start []byte
			if reuse {
				start = scratch[:0]
			} else {
				start = make([]byte, 0, size)
			}
			buf, err := ks.Serialize(start, r.Key)
			if err != nil {
				tk.fail(fmt.Errorf("sink %s: key: %w", name, err))
				return
			}
			kl := len(buf)
			key := buf[:kl:kl]
			var val []byte
			if !r.Tombstone {
				if buf, err = vs.Serialize(buf, r.Value); err != nil {
					tk.fail(fmt.Errorf("sink %s: value: %w", name, err))
					return
				}
				val = buf[kl:]
				if val == nil {
					val = []byte{}
				}
				if len(buf) > size {
					size = min(len(buf)+len(buf)/4, 64<<10)
				}
			}
			if kl == 0 && key != nil {
				key = nil
			}
			if reuse {
				scratch = buf
			}
			tk.emit(OutputRecord{Topic: name, Key: key, Value: val, Timestamp: r.Timestamp, Headers: r.Headers})
		}), nil
	}
	return n
}

// Repartition writes the stream to an internal topic partitioned by the
// current key and reads it back, so records with equal keys meet in one
// task. Grouping and joins do this themselves when the key has changed.
// Options: Named (topic "<app-id>-<name>-repartition"), Partitions.
func (s Stream[K, V]) Repartition(opts ...Option) Stream[K, V] {
	o := collect(opts)
	return repartition(s, nameOr(o, "KSTREAM-REPARTITION", s.b), o)
}

func repartition[K, V any](s Stream[K, V], base string, o opOpts) Stream[K, V] {
	if s.ks == nil || s.vs == nil {
		s.b.errorf("repartition %q: the stream has no serdes; call WithSerdes first", base)
		return s
	}
	topic := base + "-repartition"
	sinkNode(s, topic, true, opOpts{name: base + "-sink", partitions: o.partitions})
	src := s.b.source(base+"-source", "", topic, true)
	src.partitions = o.partitions
	src.build = sourceBuild[K, V](src, s.ks, s.vs, nil, false)
	return Stream[K, V]{b: s.b, n: src, ks: s.ks, vs: s.vs}
}

// Map transforms key and value; the result must be repartitioned before
// grouping or joining by key, which the DSL does when needed.
func Map[K, V, K2, V2 any](s Stream[K, V], fn func(key K, value V) (K2, V2), opts ...Option) Stream[K2, V2] {
	n := derive(s, pMap, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K2, V2](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			k, v := fn(r.Key, r.Value)
			out.process(Record[K2, V2]{Key: k, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Stream[K2, V2]{b: s.b, n: n, rekeyed: true}
}

// MapValues transforms values and keeps keys (and partitioning).
func MapValues[K, V, V2 any](s Stream[K, V], fn func(key K, value V) V2, opts ...Option) Stream[K, V2] {
	n := derive(s, pMapValues, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V2](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			v := fn(r.Key, r.Value)
			out.process(Record[K, V2]{Key: r.Key, Value: v, Timestamp: r.Timestamp, Headers: r.Headers, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Stream[K, V2]{b: s.b, n: n, ks: s.ks, rekeyed: s.rekeyed}
}

// SelectKey replaces the key.
func SelectKey[K, V, K2 any](s Stream[K, V], fn func(key K, value V) K2, opts ...Option) Stream[K2, V] {
	n := derive(s, pKey, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K2, V](tk, n)
		if err != nil {
			return nil, err
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			out.process(Record[K2, V]{Key: fn(r.Key, r.Value), Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers, Tombstone: r.Tombstone, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset})
		}), nil
	}
	return Stream[K2, V]{b: s.b, n: n, vs: s.vs, rekeyed: true}
}

// FlatMap turns each record into any number of records, passed to emit.
func FlatMap[K, V, K2, V2 any](s Stream[K, V], fn func(key K, value V, emit func(K2, V2)), opts ...Option) Stream[K2, V2] {
	n := derive(s, pFlatMap, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K2, V2](tk, n)
		if err != nil {
			return nil, err
		}
		var cur Record[K, V]
		emit := func(k K2, v V2) {
			out.process(Record[K2, V2]{Key: k, Value: v, Timestamp: cur.Timestamp, Headers: cur.Headers, Topic: cur.Topic, Partition: cur.Partition, Offset: cur.Offset})
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			cur = r
			fn(r.Key, r.Value, emit)
		}), nil
	}
	return Stream[K2, V2]{b: s.b, n: n, rekeyed: true}
}

// FlatMapValues turns each value into any number of values with the same key.
func FlatMapValues[K, V, V2 any](s Stream[K, V], fn func(key K, value V, emit func(V2)), opts ...Option) Stream[K, V2] {
	n := derive(s, pFlatMap, collect(opts))
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[K, V2](tk, n)
		if err != nil {
			return nil, err
		}
		var cur Record[K, V]
		emit := func(v V2) {
			out.process(Record[K, V2]{Key: cur.Key, Value: v, Timestamp: cur.Timestamp, Headers: cur.Headers, Topic: cur.Topic, Partition: cur.Partition, Offset: cur.Offset})
		}
		return recvFunc[K, V](func(r Record[K, V]) {
			cur = r
			fn(r.Key, r.Value, emit)
		}), nil
	}
	return Stream[K, V2]{b: s.b, n: n, ks: s.ks, rekeyed: s.rekeyed}
}

// Process runs a user Processor on every record. stores names the stores
// (added with Builder.AddStore) the processor uses. A processor may change
// keys, so the result counts as re-keyed.
func Process[KIn, VIn, KOut, VOut any](s Stream[KIn, VIn], supplier func() Processor[KIn, VIn, KOut, VOut], stores []string, opts ...Option) Stream[KOut, VOut] {
	n := derive(s, pProcess, collect(opts))
	for _, st := range stores {
		s.b.connectStore(n, st)
	}
	n.build = func(tk *Task) (any, error) {
		out, err := fanout[KOut, VOut](tk, n)
		if err != nil {
			return nil, err
		}
		p := supplier()
		if p == nil {
			return nil, fmt.Errorf("processor supplier returned nil")
		}
		ctx := &procContext[KOut, VOut]{tk: tk, out: out}
		tk.inits = append(tk.inits, func() error {
			if err := p.Init(ctx); err != nil {
				return fmt.Errorf("processor %q: init: %w", n.name, err)
			}
			return nil
		})
		tk.closers = append(tk.closers, p.Close)
		return recvFunc[KIn, VIn](func(r Record[KIn, VIn]) {
			if err := p.Process(r); err != nil {
				tk.fail(fmt.Errorf("processor %q: %w", n.name, err))
			}
		}), nil
	}
	return Stream[KOut, VOut]{b: s.b, n: n, rekeyed: true}
}

// ProcessValues runs a user Processor that keeps each record's key (it may
// change values, drop records or forward several), so the result stays
// partitioned as before and grouping or joining it needs no repartition.
// Forwarding a record with a different key breaks co-partitioning: use
// Process for that.
func ProcessValues[K, VIn, VOut any](s Stream[K, VIn], supplier func() Processor[K, VIn, K, VOut], stores []string, opts ...Option) Stream[K, VOut] {
	out := Process(s, supplier, stores, opts...)
	out.ks, out.rekeyed = s.ks, s.rekeyed
	return out
}
