package pipelines

import (
	"fmt"
	"reflect"
)

// steps checks a list of steps, threading the record type through them,
// and reports whether the list ends in a route (which names its own
// sinks).
func (c *checker) steps(steps []Step, t *recordType, from *Source, inBranch bool) (endsInRoute bool) {
	for i, s := range steps {
		what := fmt.Sprintf("%s step", s.Kind())
		switch s := s.(type) {
		case *FilterStep:
			c.compile(s.Cond, t, what, boolType)
		case *KeyByStep:
			if c.compile(s.Key, t, what, nil) && s.Key.Type != nil && (s.Key.Type.Kind() == reflect.Map || s.Key.Type.Kind() == reflect.Slice) {
				c.errf(s.Key.Pos, "key by a field or a string, e.g. key_by: sensor_id", "%s: a key cannot be a %s", what, typeName(s.Key.Type))
			}
		case *MapStep:
			out := &recordType{closed: true, fields: map[string]reflect.Type{}}
			for _, f := range s.Fields {
				c.compile(f.Expr, t, fmt.Sprintf("%s: field %q", what, f.Name), nil)
				out.set(f.Name, f.Expr.Type)
			}
			t = out
		case *SetStep:
			out := t.clone()
			for _, f := range s.Fields {
				c.compile(f.Expr, t, fmt.Sprintf("%s: field %q", what, f.Name), nil)
				out.set(f.Name, f.Expr.Type)
			}
			t = out
		case *WindowStep:
			t = c.window(s, t)
		case *JoinStep:
			t = c.join(s, t, from)
		case *DedupeStep:
			c.compile(s.Key, t, what+": key", nil)
		case *RouteStep:
			if inBranch {
				c.errf(s.Pos, "give the outer branch's when: a combined condition instead", "route step: a route inside a route branch is not supported")
			}
			if i != len(steps)-1 {
				c.errf(steps[i+1].At(), "a route sends records to sinks; put these steps inside a branch's steps:", "%s step: no step can follow a route", steps[i+1].Kind())
			}
			c.route(s, t, from)
			return true
		}
		c.p.stepTypes[s] = t
	}
	return false
}

func (c *checker) window(w *WindowStep, t *recordType) *recordType {
	out := &recordType{closed: true, fields: map[string]reflect.Type{}}
	out.set("key", stringType)
	out.set("window_start", timeType)
	out.set("window_end", timeType)
	seen := map[string]bool{"key": true, "window_start": true, "window_end": true}
	for _, a := range w.Aggs {
		what := fmt.Sprintf("window step: aggregate %q", a.Name)
		if seen[a.Name] {
			c.errf(a.Pos, "key, window_start and window_end are set by the window; pick another name", "%s: name is already used", what)
		}
		seen[a.Name] = true
		var res reflect.Type
		switch a.Func {
		case "count", "count_distinct":
			res = int64Type
		case "sum", "avg", "percentile":
			res = floatType
		}
		if a.Arg != nil && c.compile(a.Arg, t, what, nil) {
			at := a.Arg.Type
			switch a.Func {
			case "sum", "avg", "percentile":
				if !isNumeric(at) {
					c.errf(a.Arg.Pos, "use a numeric field or expression", "%s: %s needs a number, but the expression has type %s", what, a.Func, typeName(at))
				}
			case "min", "max":
				if at != nil && !isOrdered(at) {
					c.errf(a.Arg.Pos, "min and max work on numbers, strings and times", "%s: %s cannot order values of type %s", what, a.Func, typeName(at))
				}
				res = at
			case "first", "last":
				res = at
			}
		}
		out.set(a.Name, res)
	}
	return out
}

func (c *checker) join(j *JoinStep, t *recordType, from *Source) *recordType {
	out := t.clone()
	right, ok := c.sources[j.With.Name]
	if !ok {
		c.errf(j.With.Pos, suggest(j.With.Name, c.sourceNames(), "source"), "join step: with: no source named %q", j.With.Name)
		c.unresolved = true
		return out
	}
	if right == from {
		c.errf(j.With.Pos, "declare the other side as its own source", "join step: cannot join source %q with itself", j.With.Name)
	}
	c.usedSources[right.Name] = true
	j.right = right
	if right.Table {
		if j.Within > 0 {
			c.errf(j.Pos, "within is for stream–stream joins; remove it, or drop table: true from the source", "join step: within does not apply: source %q is a table", right.Name)
		}
		if j.Type == OuterJoin {
			c.errf(j.Pos, "a stream–table join is inner or left", "join step: type outer is not supported with table %q", right.Name)
		}
	} else if j.Within == 0 {
		c.errf(j.Pos, "a stream–stream join matches records at most this far apart in time, e.g. within: 5m; or make the source a table (table: true)", "join step: missing required field %q (source %q is a stream)", "within", right.Name)
	}
	if j.On != nil {
		c.compile(j.On, t, "join step: on", nil)
	}
	out.set(j.As, mapType)
	return out
}

func (c *checker) route(r *RouteStep, t *recordType, from *Source) {
	names := map[string]bool{}
	for i, b := range r.Branches {
		what := fmt.Sprintf("route step: branch %d", i+1)
		if b.Name != "" {
			if names[b.Name] {
				c.errf(b.Pos, "", "%s: duplicate branch name %q", what, b.Name)
			}
			names[b.Name] = true
		}
		if b.When == nil && i != len(r.Branches)-1 {
			c.errf(b.Pos, "the branch without when: catches everything left; put it last", "%s: the default branch must be the last", what)
		}
		c.compile(b.When, t, what+": when", boolType)
		c.steps(b.Steps, t, from, true)
		c.sinkRefs(b.To, what+": to")
	}
}
