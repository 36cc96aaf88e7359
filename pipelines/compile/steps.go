package compile

import (
	"fmt"
	"strings"

	"github.com/expr-lang/expr/vm"

	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/record"
)

// run evaluates one expression on a record with a pooled VM.
func (c *compiler) run(e *pipelines.Expr, v Value) (any, error) {
	m := vms.Get().(*vm.VM)
	out, err := m.Run(e.Program, v)
	vms.Put(m)
	if err != nil {
		return nil, exprError(err)
	}
	return out, nil
}

// steps compiles a list of steps; ended reports that it ended in a route
// (whose branches wrote to their sinks).
func (c *compiler) steps(f flow, steps []pipelines.Step, path string) (flow, bool) {
	var stage []pipelines.Step
	stageAt := 0
	flush := func() {
		if len(stage) > 0 {
			f = c.stage(f, stage, fmt.Sprintf("%s%d", path, stageAt))
			stage = nil
		}
	}
	for i, s := range steps {
		name := fmt.Sprintf("%s-%s%d", s.Kind(), path, i)
		switch s := s.(type) {
		case *pipelines.FilterStep, *pipelines.MapStep, *pipelines.SetStep:
			if len(stage) == 0 {
				stageAt = i
			}
			stage = append(stage, s)
			continue
		}
		flush()
		switch s := s.(type) {
		case *pipelines.KeyByStep:
			f = c.rekey(f, s.Key, name, "key_by step")
		case *pipelines.WindowStep:
			f = c.window(f, s, name)
		case *pipelines.JoinStep:
			f = c.join(f, s, name)
		case *pipelines.DedupeStep:
			f = c.dedupe(f, s, name)
		case *pipelines.RouteStep:
			c.route(f, s, fmt.Sprintf("%s%d", path, i))
			return f, true
		}
		if fs := c.p.StepFields(s); fs != nil || s.Kind() == "window" {
			f.fields = fs
		}
		f.s = f.s.WithSerdes(operators.String, valueSerde(f.fields))
	}
	flush()
	return f, false
}

// rekey replaces the key with an expression's value.
func (c *compiler) rekey(f flow, e *pipelines.Expr, name, what string) flow {
	keyOf := func(k string, v Value) string {
		if v == nil {
			return k
		}
		out, err := c.run(e, v)
		if err != nil {
			c.errs.record(&RecordError{Where: e.Pos, Step: what, Err: err})
			return k
		}
		return record.KeyString(out)
	}
	s := operators.SelectKey(f.s, keyOf, operators.Named(name))
	f.s = s.WithSerdes(operators.String, valueSerde(f.fields))
	f.rekeyed = true
	return f
}

// stageOp is one fused stateless step: it returns the record to pass on,
// whether to keep it, and an error that skips it.
type stageOp struct {
	kind string
	at   pipelines.Pos
	fn   func(m *vm.VM, v Value) (Value, bool, *pipelines.Expr, error)
}

// errMarker is the field of the internal value a failed record becomes
// when the pipeline has a dead-letter topic.
const errMarker = "\x00sluice.error"

// stage fuses consecutive filter, map and set steps into one operator,
// named after them and the position of the first ("filter+map-0").
func (c *compiler) stage(f flow, steps []pipelines.Step, at string) flow {
	var ops []stageOp
	for _, s := range steps {
		ops = append(ops, stageOpOf(s))
	}
	var fields []record.Field = f.fields
	for _, s := range steps {
		if fs := c.p.StepFields(s); fs != nil {
			fields = fs
		}
	}
	dlq := c.p.DeadLetterTopic != ""
	errs := c.errs
	kinds := make([]string, len(steps))
	for i, s := range steps {
		kinds[i] = s.Kind()
	}
	name := strings.Join(kinds, "+") + "-" + at
	fn := func(_ string, v Value, emit func(Value)) {
		if v == nil { // a tombstone: nothing to evaluate
			return
		}
		m := vms.Get().(*vm.VM)
		for i := range ops {
			out, keep, e, err := ops[i].fn(m, v)
			if err != nil {
				vms.Put(m)
				re := &RecordError{Where: e.Pos, Step: ops[i].kind + " step", Err: exprError(err)}
				errs.record(re)
				if dlq {
					emit(Value{errMarker: re, "record": v})
				}
				return
			}
			if !keep {
				vms.Put(m)
				return
			}
			v = out
		}
		vms.Put(m)
		emit(v)
	}
	out := operators.FlatMapValues(f.s, fn, operators.Named(name))
	f.s = out.WithSerdes(operators.String, valueSerde(fields))
	f.fields = fields
	if dlq {
		f.s = c.splitErrors(f.s, name)
	}
	return f
}

func stageOpOf(s pipelines.Step) stageOp {
	switch s := s.(type) {
	case *pipelines.FilterStep:
		p, e := s.Cond.Program, s.Cond
		return stageOp{kind: "filter", at: s.Pos, fn: func(m *vm.VM, v Value) (Value, bool, *pipelines.Expr, error) {
			out, err := m.Run(p, v)
			if err != nil {
				return nil, false, e, err
			}
			b, ok := out.(bool)
			if !ok {
				return nil, false, e, fmt.Errorf("condition is %T, not a boolean", out)
			}
			return v, b, nil, nil
		}}
	case *pipelines.MapStep:
		fields := s.Fields
		return stageOp{kind: "map", at: s.Pos, fn: func(m *vm.VM, v Value) (Value, bool, *pipelines.Expr, error) {
			out := make(Value, len(fields))
			for i := range fields {
				x, err := m.Run(fields[i].Expr.Program, v)
				if err != nil {
					return nil, false, fields[i].Expr, err
				}
				out[fields[i].Name] = x
			}
			return out, true, nil, nil
		}}
	case *pipelines.SetStep:
		fields := s.Fields
		return stageOp{kind: "set", at: s.Pos, fn: func(m *vm.VM, v Value) (Value, bool, *pipelines.Expr, error) {
			// Every field sees the input record, so set: {a: b, b: a}
			// swaps: evaluate all, then assign.
			var small [8]any
			vals := small[:0]
			for i := range fields {
				x, err := m.Run(fields[i].Expr.Program, v)
				if err != nil {
					return nil, false, fields[i].Expr, err
				}
				vals = append(vals, x)
			}
			for i := range fields {
				v[fields[i].Name] = vals[i]
			}
			return v, true, nil, nil
		}}
	}
	panic(fmt.Sprintf("compile: %s is not a stateless step", s.Kind()))
}

// dlqFields orders the fields of dead-letter records.
var dlqFields = []record.Field{{Name: "pipeline"}, {Name: "at"}, {Name: "step"}, {Name: "error"}, {Name: "record"}}

// splitErrors sends error-marked records to the dead-letter stream and
// passes the rest on.
func (c *compiler) splitErrors(s operators.Stream[string, Value], name string) operators.Stream[string, Value] {
	isErr := func(_ string, v Value) bool { _, bad := v[errMarker]; return bad }
	br := s.Branch(isErr, func(string, Value) bool { return true })
	pname := c.p.Name
	dead := operators.MapValues(br[0], func(_ string, v Value) Value {
		re := v[errMarker].(*RecordError)
		return Value{"pipeline": pname, "at": re.Where.String(), "step": re.Step, "error": re.Err.Error(), "record": v["record"]}
	}, operators.Named(name+"-dead-letters"))
	c.dlq = append(c.dlq, dead.WithSerdes(operators.String, valueSerde(dlqFields)))
	return br[1]
}

// route sends records down the first branch whose condition holds.
func (c *compiler) route(f flow, r *pipelines.RouteStep, path string) {
	preds := make([]func(string, Value) bool, len(r.Branches))
	for i, b := range r.Branches {
		if b.When == nil {
			preds[i] = func(string, Value) bool { return true }
			continue
		}
		e := b.When
		preds[i] = func(_ string, v Value) bool {
			if v == nil {
				return false
			}
			out, err := c.run(e, v)
			if err != nil {
				c.errs.record(&RecordError{Where: e.Pos, Step: "route step", Err: err})
				return false
			}
			ok, _ := out.(bool)
			return ok
		}
	}
	outs := f.s.Branch(preds...)
	for i, b := range r.Branches {
		bf := flow{s: outs[i].WithSerdes(operators.String, valueSerde(f.fields)), fields: f.fields, rekeyed: f.rekeyed}
		bpath := fmt.Sprintf("%s.b%d", path, i)
		bf, _ = c.steps(bf, b.Steps, bpath+".")
		c.sink(bf, b.To, bpath)
	}
}
