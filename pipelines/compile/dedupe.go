package compile

import (
	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
)

// dedupe compiles a dedupe step: a processor with a key-value store of
// when each key was last seen (entries expire after the span, so the store
// stays bounded). With a key expression the stream is re-keyed by it
// first, and stays keyed by it. A record is dropped when its key was seen
// at most Within earlier or later in event time.
func (c *compiler) dedupe(f flow, d *pipelines.DedupeStep, name string) flow {
	if d.Key != nil {
		f = c.rekey(f, d.Key, name+"-key", "dedupe step: key")
	}
	if f.rekeyed {
		f.s = f.s.Repartition(operators.Named(name))
		f.rekeyed = false
	}
	store := operators.NewKeyValueStore(name+"-store", operators.String, operators.Int64, operators.TTL(2*d.Within))
	c.b.AddStore(store)
	within := d.Within.Milliseconds()
	supplier := func() operators.Processor[string, Value, string, Value] {
		var kv operators.KeyValueStore[string, int64]
		return &operators.ProcessorFuncs[string, Value, string, Value]{
			InitFunc: func(ctx operators.ProcessorContext[string, Value]) error {
				var err error
				kv, err = store.From(ctx)
				return err
			},
			ProcessFunc: func(ctx operators.ProcessorContext[string, Value], r operators.Record[string, Value]) error {
				if r.Tombstone {
					return nil
				}
				seen, ok, err := kv.Get(r.Key)
				if err != nil {
					return err
				}
				if ok && r.Timestamp-seen <= within && seen-r.Timestamp <= within {
					return nil
				}
				if !ok || r.Timestamp > seen {
					if err := kv.Put(r.Key, r.Timestamp); err != nil {
						return err
					}
				}
				ctx.Forward(r)
				return nil
			},
		}
	}
	out := operators.Process(f.s, supplier, []string{store.Name()}, operators.Named(name))
	f.s = out.WithSerdes(operators.String, valueSerde(f.fields))
	// Process counts as a key change to the DSL; the records are in fact
	// still partitioned by their key.
	f.rekeyed = false
	return f
}
