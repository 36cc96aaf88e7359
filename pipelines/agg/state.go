package agg

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/sluicehq/sluice/pipelines/record"
)

// Kind is an aggregate function.
type Kind uint8

// Aggregate functions.
const (
	Count Kind = iota + 1
	Sum
	Avg
	Min
	Max
	First
	Last
	CountDistinct
	Percentile
)

// KindOf maps a function name as written in YAML to its Kind.
func KindOf(name string) (Kind, bool) {
	k, ok := map[string]Kind{"count": Count, "sum": Sum, "avg": Avg, "min": Min, "max": Max,
		"first": First, "last": Last, "count_distinct": CountDistinct, "percentile": Percentile}[name]
	return k, ok
}

// Spec is one aggregate of a window.
type Spec struct {
	Kind Kind
	// Param is the percentile (0..100) for Percentile.
	Param float64
}

// Slot is the accumulator of one aggregate.
type Slot struct {
	kind Kind
	n    int64
	sum  float64
	v    any
	ts   int64
	set  bool
	d    *Distinct
	q    *Quantiles
}

// State is the accumulator of one window: one slot per aggregate, in the
// order the window declares them.
type State struct {
	Slots []Slot
}

// New returns an empty accumulator for specs.
func New(specs []Spec) *State {
	s := &State{Slots: make([]Slot, len(specs))}
	for i, sp := range specs {
		s.Slots[i].kind = sp.Kind
	}
	return s
}

// Add folds one record into the state: vals[i] is the value of aggregate
// i's argument for it (ignored for count), ts its event time. Null values
// are skipped, as SQL aggregates skip NULL. A value of the wrong type is
// skipped too and reported in the error; the other slots still advance.
func (s *State) Add(vals []any, ts int64) error {
	var bad error
	for i := range s.Slots {
		sl := &s.Slots[i]
		if sl.kind == Count {
			sl.n++
			continue
		}
		v := vals[i]
		if v == nil {
			continue
		}
		if err := sl.add(v, ts); err != nil && bad == nil {
			bad = fmt.Errorf("aggregate %d: %w", i, err)
		}
	}
	return bad
}

func (sl *Slot) add(v any, ts int64) error {
	switch sl.kind {
	case Sum, Avg:
		f, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		sl.n++
		sl.sum += f
	case Min, Max:
		if !sl.set {
			sl.v, sl.set = v, true
			return nil
		}
		c, err := compare(v, sl.v)
		if err != nil {
			return err
		}
		if (sl.kind == Min && c < 0) || (sl.kind == Max && c > 0) {
			sl.v = v
		}
	case First:
		if !sl.set || ts < sl.ts {
			sl.v, sl.ts, sl.set = v, ts, true
		}
	case Last:
		if !sl.set || ts >= sl.ts {
			sl.v, sl.ts, sl.set = v, ts, true
		}
	case CountDistinct:
		if sl.d == nil {
			sl.d = &Distinct{}
		}
		sl.d.AddHash(hashValue(v))
	case Percentile:
		f, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("%v is not a number", v)
		}
		if sl.q == nil {
			sl.q = &Quantiles{}
		}
		sl.q.Add(f)
	}
	return nil
}

// hashValue hashes a value's canonical text, so 3 and 3.0 count once and
// the hash is the same in every process (state is restored elsewhere).
func hashValue(v any) uint64 {
	return xxhash.Sum64String(record.KeyString(v))
}

// Merge folds o into s (for session windows a record bridges). Both must
// come from the same specs.
func (s *State) Merge(o *State) {
	for i := range s.Slots {
		if i >= len(o.Slots) {
			return
		}
		a, b := &s.Slots[i], &o.Slots[i]
		switch a.kind {
		case Count, Sum, Avg:
			a.n += b.n
			a.sum += b.sum
		case Min, Max:
			if b.set {
				if !a.set {
					a.v, a.set = b.v, true
				} else if c, err := compare(b.v, a.v); err == nil && ((a.kind == Min && c < 0) || (a.kind == Max && c > 0)) {
					a.v = b.v
				}
			}
		case First:
			if b.set && (!a.set || b.ts < a.ts) {
				a.v, a.ts, a.set = b.v, b.ts, true
			}
		case Last:
			if b.set && (!a.set || b.ts >= a.ts) {
				a.v, a.ts, a.set = b.v, b.ts, true
			}
		case CountDistinct:
			if b.d != nil {
				if a.d == nil {
					a.d = &Distinct{}
				}
				a.d.Merge(b.d)
			}
		case Percentile:
			if b.q != nil {
				if a.q == nil {
					a.q = &Quantiles{}
				}
				a.q.Merge(b.q)
			}
		}
	}
}

// Result is aggregate i's current value: count and count_distinct are
// int64; sum, avg and percentile float64 (avg and percentile of nothing
// are null); min, max, first and last the values they kept.
func (s *State) Result(i int, sp Spec) any {
	sl := &s.Slots[i]
	switch sl.kind {
	case Count:
		return sl.n
	case Sum:
		return sl.sum
	case Avg:
		if sl.n == 0 {
			return nil
		}
		return sl.sum / float64(sl.n)
	case Min, Max, First, Last:
		return sl.v
	case CountDistinct:
		if sl.d == nil {
			return int64(0)
		}
		return sl.d.Count()
	case Percentile:
		if sl.q == nil {
			return nil
		}
		if v, ok := sl.q.Percentile(sp.Param); ok {
			return v
		}
		return nil
	}
	return nil
}
