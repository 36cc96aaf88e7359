package compile

import (
	"maps"

	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
)

// join compiles a join step: with a table source, a stream–table join on
// the key (inner or left); with a stream source, a windowed stream–stream
// join (inner, left or outer). The right-hand record is stored in field As
// of a copy of the left record (null when a left or outer join found no
// match; an outer join's unmatched right record gets a record of its own
// with only that field).
func (c *compiler) join(f flow, j *pipelines.JoinStep, name string) flow {
	if j.On != nil {
		f = c.rekey(f, j.On, name+"-key", "join step: on")
	}
	right := j.Right()
	as := j.As
	merge := func(l Value, r *Value) Value {
		out := make(Value, len(l)+1)
		maps.Copy(out, l)
		if r != nil {
			out[as] = *r
		} else {
			out[as] = nil
		}
		return out
	}
	var out operators.Stream[string, Value]
	if right.Table {
		t := c.table(right)
		if j.Type == pipelines.LeftJoin {
			out = operators.LeftJoinTable(f.s, t, func(_ string, v Value, row *Value) Value { return merge(v, row) }, operators.Named(name))
		} else {
			out = operators.JoinTable(f.s, t, func(_ string, v Value, row Value) Value { return merge(v, &row) }, operators.Named(name))
		}
	} else {
		r := c.read(right)
		w := operators.JoinWindow(j.Within).Grace(j.Grace)
		switch j.Type {
		case pipelines.LeftJoin:
			out = operators.LeftJoin(f.s, r.s, func(_ string, l Value, rv *Value) Value { return merge(l, rv) }, w, operators.Named(name))
		case pipelines.OuterJoin:
			out = operators.OuterJoin(f.s, r.s, func(_ string, l *Value, rv *Value) Value {
				if l == nil {
					return Value{as: *rv}
				}
				return merge(*l, rv)
			}, w, operators.Named(name))
		default:
			out = operators.Join(f.s, r.s, func(_ string, l Value, rv Value) Value { return merge(l, &rv) }, w, operators.Named(name))
		}
	}
	f.fields = c.p.StepFields(j)
	f.s = out.WithSerdes(operators.String, valueSerde(f.fields))
	f.rekeyed = false
	return f
}
