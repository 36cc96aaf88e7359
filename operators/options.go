package operators

import "fmt"

// Option tunes one DSL operation. Options that do not apply to an operation
// are ignored.
type Option func(*opOpts)

type opOpts struct {
	name       string
	storeName  string
	storeOpts  []StoreOption
	extractor  any
	emitFinal  bool
	partitions int
}

func collect(opts []Option) opOpts {
	var o opOpts
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// Named names the processor (and derived topics) instead of an
// auto-generated KSTREAM-... name. Names appear in Describe and in the
// names of internal topics, so naming stateful operations keeps topic and
// store names stable when the topology changes.
func Named(name string) Option { return func(o *opOpts) { o.name = name } }

// Materialized names the state store of a stateful operation and sets its
// options (InMemory, TTL, ...).
func Materialized(storeName string, opts ...StoreOption) Option {
	return func(o *opOpts) { o.storeName = storeName; o.storeOpts = append(o.storeOpts, opts...) }
}

// WithStore sets store options (InMemory, TTL, ...) without naming the store.
func WithStore(opts ...StoreOption) Option {
	return func(o *opOpts) { o.storeOpts = append(o.storeOpts, opts...) }
}

// EmitOnClose makes a windowed aggregation emit each window once, with its
// final value, when stream time passes the window's end plus grace (Kafka
// Streams' suppress(untilWindowCloses) / emitStrategy(onWindowClose)),
// instead of on every update.
func EmitOnClose() Option { return func(o *opOpts) { o.emitFinal = true } }

// Partitions sets the partition count of a repartition topic (default: as
// many as the upstream sub-topology's tasks).
func Partitions(n int) Option { return func(o *opOpts) { o.partitions = n } }

// TimestampFrom sets the event-time extractor of a source: fn gets the
// decoded key and value and the record's Kafka timestamp and returns the
// event time in milliseconds. Windows and stream time use it.
func TimestampFrom[K, V any](fn func(key K, value V, recordTs int64) int64) Option {
	return func(o *opOpts) { o.extractor = fn }
}

func extractorFor[K, V any](b *Builder, where string, o opOpts) func(K, V, int64) int64 {
	if o.extractor == nil {
		return nil
	}
	fn, ok := o.extractor.(func(K, V, int64) int64)
	if !ok {
		var k K
		var v V
		b.errorf("%s: timestamp extractor is a %T, the stream has (%T, %T) records", where, o.extractor, k, v)
		return nil
	}
	return fn
}

func (o opOpts) storeNameOr(def string) string {
	if o.storeName != "" {
		return o.storeName
	}
	return def
}

func nameOr(o opOpts, prefix string, b *Builder) string {
	if o.name != "" {
		return o.name
	}
	return fmt.Sprintf("%s-%010d", prefix, b.seq)
}
