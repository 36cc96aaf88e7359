package compile

import (
	"fmt"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/agg"
)

// window compiles a window step: group by the current key (the DSL
// repartitions when the key changed), aggregate per window into an
// agg.State, and turn each result into a record
// {key, window_start, window_end, <aggregates>...}.
func (c *compiler) window(f flow, w *pipelines.WindowStep, name string) flow {
	specs := make([]agg.Spec, len(w.Aggs))
	progs := make([]*vm.Program, len(w.Aggs))
	exprs := make([]*pipelines.Expr, len(w.Aggs))
	for i, a := range w.Aggs {
		k, _ := agg.KindOf(a.Func)
		specs[i] = agg.Spec{Kind: k, Param: a.Param}
		if a.Arg != nil {
			progs[i], exprs[i] = a.Arg.Program, a.Arg
		}
	}
	n := len(specs)
	errs := c.errs
	init := func() *agg.State { return agg.New(specs) }
	// fold gets each record's event time, so first and last follow event
	// time, not arrival order.
	fold := func(_ string, v Value, ts int64, acc *agg.State) *agg.State {
		if v == nil {
			return acc
		}
		var small [8]any
		vals := small[:0]
		m := vms.Get().(*vm.VM)
		for i := 0; i < n; i++ {
			if progs[i] == nil {
				vals = append(vals, nil)
				continue
			}
			x, err := m.Run(progs[i], v)
			if err != nil {
				errs.record(&RecordError{Where: exprs[i].Pos, Step: "window step: aggregate " + w.Aggs[i].Name, Err: exprError(err)})
				x = nil
			}
			vals = append(vals, x)
		}
		vms.Put(m)
		if err := acc.Add(vals, ts); err != nil {
			errs.record(&RecordError{Where: w.Pos, Step: "window step", Err: err})
		}
		return acc
	}
	stateSerde := operators.SerdeFuncs(
		func(dst []byte, s *agg.State) ([]byte, error) { return s.Marshal(dst), nil },
		func(b []byte) (*agg.State, error) {
			s, err := agg.Unmarshal(b, specs)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", operators.ErrSerde, err)
			}
			return s, nil
		})

	opts := []operators.Option{operators.Named(name), operators.Materialized(name + "-store")}
	if w.Emit == pipelines.EmitOnClose {
		opts = append(opts, operators.EmitOnClose())
	}
	g := f.s.GroupByKey(operators.Named(name))
	var table operators.Table[operators.Windowed[string], *agg.State]
	switch w.Type {
	case pipelines.Tumbling:
		table = operators.AggregateWindowedTimed(g.WindowedBy(operators.Tumbling(w.Size).Grace(w.Grace)), init, fold, stateSerde, opts...)
	case pipelines.Hopping:
		table = operators.AggregateWindowedTimed(g.WindowedBy(operators.Hopping(w.Size, w.Advance).Grace(w.Grace)), init, fold, stateSerde, opts...)
	case pipelines.Sliding:
		table = operators.AggregateWindowedTimed(g.WindowedBy(operators.Sliding(w.Size).Grace(w.Grace)), init, fold, stateSerde, opts...)
	case pipelines.Session:
		merge := func(_ string, a, b *agg.State) *agg.State { a.Merge(b); return a }
		table = operators.AggregateSessionsTimed(g.WindowedBy(operators.Session(w.Gap).Grace(w.Grace)), init, fold, merge, stateSerde, opts...)
	}
	names := make([]string, n)
	for i, a := range w.Aggs {
		names[i] = a.Name
	}
	results := operators.FlatMap(table.ToStream(operators.Named(name+"-results")),
		func(k operators.Windowed[string], s *agg.State, emit func(string, Value)) {
			if s == nil { // a session merged into a newer one
				return
			}
			out := make(Value, n+3)
			out["key"] = k.Key
			out["window_start"] = time.UnixMilli(k.Start).UTC()
			out["window_end"] = time.UnixMilli(k.End).UTC()
			for i := range names {
				out[names[i]] = s.Result(i, specs[i])
			}
			emit(k.Key, out)
		}, operators.Named(name+"-records"))
	f.fields = c.p.StepFields(w)
	f.s = results.WithSerdes(operators.String, valueSerde(f.fields))
	f.rekeyed = false // keyed by the group key, partitioned by it
	return f
}
