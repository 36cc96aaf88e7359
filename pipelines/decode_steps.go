package pipelines

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// stepKinds are the step names a pipeline may use.
var stepKinds = []string{"filter", "map", "set", "key_by", "window", "join", "route", "dedupe"}

func (d *decoder) steps(n *yaml.Node, what string) []Step {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "steps are a list: - filter: ...", "%s: expected a list of steps, got %s", what, describe(n))
		return nil
	}
	var out []Step
	for i, it := range n.Content {
		it = resolve(it)
		sw := fmt.Sprintf("%s[%d]", what, i)
		if it.Kind != yaml.MappingNode || len(it.Content) == 0 {
			d.errf(it, "write a step as \"- filter: <condition>\", \"- window: {...}\", ...", "%s: expected a step, got %s", sw, describe(it))
			continue
		}
		if len(it.Content) > 2 {
			d.errf(it.Content[2], "start each step with its own \"- \" (check the indentation of this line)", "%s: a step has exactly one kind, found %q and %q", sw, it.Content[0].Value, it.Content[2].Value)
		}
		k, v := resolve(it.Content[0]), resolve(it.Content[1])
		if !contains(stepKinds, k.Value) {
			d.errf(k, suggest(k.Value, stepKinds, "step"), "%s: unknown step %q", sw, k.Value)
			continue
		}
		var s Step
		p := d.pos(k)
		sw = fmt.Sprintf("%s step", k.Value)
		switch k.Value {
		case "filter":
			if e := d.requiredExpr(k, v, sw); e != nil {
				s = &FilterStep{Pos: p, Cond: e}
			}
		case "key_by":
			if e := d.requiredExpr(k, v, sw); e != nil {
				s = &KeyByStep{Pos: p, Key: e}
			}
		case "map":
			s = &MapStep{Pos: p, Fields: d.fieldExprs(v, sw)}
		case "set":
			s = &SetStep{Pos: p, Fields: d.fieldExprs(v, sw)}
		case "window":
			s = d.window(p, v, sw)
		case "join":
			s = d.join(p, v, sw)
		case "route":
			s = d.route(p, v, sw)
		case "dedupe":
			s = d.dedupe(p, v, sw)
		}
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) requiredExpr(k, v *yaml.Node, what string) *Expr {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		d.errf(k, "", "%s: missing expression", what)
		return nil
	}
	return d.expr(v, what)
}

// fieldExprs reads "name: expression" pairs in order.
func (d *decoder) fieldExprs(n *yaml.Node, what string) []Field {
	fs := d.fields(n, what)
	if fs == nil {
		return nil
	}
	if len(fs.order) == 0 {
		d.errf(n, "list output fields as name: expression", "%s: no fields", what)
	}
	var out []Field
	for _, name := range fs.order {
		if !validFieldName(name) {
			d.errf(fs.keys[name], "", "%s: %q is not a valid field name", what, name)
			continue
		}
		v := fs.vals[name]
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			d.errf(fs.keys[name], "write name: expression, e.g. temp_f: temperature * 9 / 5 + 32", "%s: field %q has no expression", what, name)
			continue
		}
		if e := d.expr(v, fmt.Sprintf("%s: field %q", what, name)); e != nil {
			out = append(out, Field{Pos: d.pos(fs.keys[name]), Name: name, Expr: e})
		}
	}
	return out
}

func validFieldName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\n\"'`")
}

var windowFields = []string{"type", "size", "advance", "gap", "grace", "emit", "aggregates"}

func (d *decoder) window(p Pos, n *yaml.Node, what string) Step {
	fs := d.fields(n, what, windowFields...)
	if fs == nil {
		return nil
	}
	w := &WindowStep{Pos: p, Emit: EmitOnClose}
	if v := fs.require("type", "tumbling, hopping, sliding or session"); v != nil {
		w.Type, _ = d.enum(v, what+": type", Tumbling, Hopping, Sliding, Session)
	}
	dur := func(name string) (ok bool) {
		v := fs.get(name)
		if v == nil {
			return false
		}
		x, ok := d.duration(v, what+": "+name)
		switch name {
		case "size":
			w.Size = x
		case "advance":
			w.Advance = x
		case "gap":
			w.Gap = x
		case "grace":
			w.Grace = x
		}
		if ok && x == 0 && name != "grace" {
			d.errf(v, "", "%s: %s must be greater than zero", what, name)
		}
		return true
	}
	hasSize, hasAdvance, hasGap := dur("size"), dur("advance"), dur("gap")
	dur("grace")
	notFor := func(field string) {
		d.errf(fs.keyPos(field), "", "%s: %s does not apply to %s windows", what, field, w.Type)
	}
	switch w.Type {
	case Tumbling, Sliding:
		if !hasSize {
			fs.require("size", "e.g. size: 1m")
		}
		if hasAdvance {
			notFor("advance")
		}
		if hasGap {
			notFor("gap")
		}
	case Hopping:
		if !hasSize {
			fs.require("size", "e.g. size: 5m")
		}
		if !hasAdvance {
			fs.require("advance", "how far each window moves on from the last, e.g. advance: 1m")
		}
		if hasGap {
			notFor("gap")
		}
		if w.Size > 0 && w.Advance > w.Size {
			d.errf(fs.keyPos("advance"), "an advance larger than the size leaves gaps no window covers", "%s: advance %v is larger than size %v", what, w.Advance, w.Size)
		}
	case Session:
		if !hasGap {
			fs.require("gap", "the inactivity gap that closes a session, e.g. gap: 5m")
		}
		if hasSize {
			notFor("size")
		}
		if hasAdvance {
			notFor("advance")
		}
	}
	if v := fs.get("emit"); v != nil {
		if e, ok := d.enum(v, what+": emit", EmitOnUpdate, EmitOnClose); ok {
			w.Emit = e
		}
	}
	if v := fs.require("aggregates", "e.g. aggregates: {readings: count(), avg_temp: avg(temperature)}"); v != nil {
		w.Aggs = d.aggregates(v, what+": aggregates")
	}
	return w
}

var joinFields = []string{"with", "type", "within", "grace", "on", "as"}

func (d *decoder) join(p Pos, n *yaml.Node, what string) Step {
	fs := d.fields(n, what, joinFields...)
	if fs == nil {
		return nil
	}
	j := &JoinStep{Pos: p, Type: InnerJoin}
	if v := fs.require("with", "the name of the source to join with"); v != nil {
		if s, ok := d.str(v, what+": with"); ok {
			j.With = Ref{Pos: d.pos(v), Name: s}
			j.As = s
		}
	}
	if v := fs.get("type"); v != nil {
		j.Type, _ = d.enum(v, what+": type", InnerJoin, LeftJoin, OuterJoin)
	}
	if v := fs.get("within"); v != nil {
		j.Within, _ = d.duration(v, what+": within")
	}
	if v := fs.get("grace"); v != nil {
		j.Grace, _ = d.duration(v, what+": grace")
	}
	if v := fs.get("on"); v != nil {
		j.On = d.expr(v, what+": on")
	}
	if v := fs.get("as"); v != nil {
		if s, ok := d.str(v, what+": as"); ok {
			if !validFieldName(s) {
				d.errf(v, "", "%s: %q is not a valid field name", what, s)
			}
			j.As = s
		}
	}
	return j
}

var branchFields = []string{"name", "when", "steps", "to"}

func (d *decoder) route(p Pos, n *yaml.Node, what string) Step {
	n = resolve(n)
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "route is a list of branches: - when: <condition>\\n  to: <sink>", "%s: expected a list of branches, got %s", what, describe(n))
		return nil
	}
	r := &RouteStep{Pos: p}
	for i, it := range n.Content {
		bw := fmt.Sprintf("%s: branch %d", what, i+1)
		fs := d.fields(it, bw, branchFields...)
		if fs == nil {
			continue
		}
		b := &Branch{Pos: d.pos(resolve(it))}
		if v := fs.get("name"); v != nil {
			b.Name, _ = d.name(v, bw+": name")
		}
		if v := fs.get("when"); v != nil {
			b.When = d.expr(v, bw+": when")
		}
		if v := fs.get("steps"); v != nil {
			b.Steps = d.steps(v, bw+": steps")
		}
		if v := fs.require("to", "the sink(s) this branch writes to"); v != nil {
			b.To = d.refs(v, bw+": to")
		}
		r.Branches = append(r.Branches, b)
	}
	if len(n.Content) == 0 {
		d.errf(n, "", "%s: no branches", what)
	}
	return r
}

var dedupeFields = []string{"key", "within"}

func (d *decoder) dedupe(p Pos, n *yaml.Node, what string) Step {
	fs := d.fields(n, what, dedupeFields...)
	if fs == nil {
		return nil
	}
	s := &DedupeStep{Pos: p}
	if v := fs.get("key"); v != nil {
		s.Key = d.expr(v, what+": key")
	}
	if v := fs.require("within", "how long a key is remembered, e.g. within: 10m"); v != nil {
		if x, ok := d.duration(v, what+": within"); ok {
			if x == 0 {
				d.errf(v, "", "%s: within must be greater than zero", what)
			}
			s.Within = x
		}
	}
	return s
}
