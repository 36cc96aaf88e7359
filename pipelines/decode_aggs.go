package pipelines

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// aggFuncs are the aggregate functions a window may compute, with the
// number of arguments each takes.
var aggFuncs = map[string]int{
	"count": 0, "sum": 1, "avg": 1, "min": 1, "max": 1, "first": 1, "last": 1,
	"count_distinct": 1, // approximate (HyperLogLog)
	"percentile":     2, // approximate (a fixed-size sketch): percentile(expr, 95)
}

func aggNames() []string {
	out := make([]string, 0, len(aggFuncs))
	for k := range aggFuncs {
		out = append(out, k)
	}
	return out
}

// aggregates reads "name: fn(expression)" pairs.
func (d *decoder) aggregates(n *yaml.Node, what string) []*Aggregate {
	fs := d.fields(n, what)
	if fs == nil {
		return nil
	}
	if len(fs.order) == 0 {
		d.errf(n, "e.g. aggregates: {readings: count(), avg_temp: avg(temperature)}", "%s: no aggregates", what)
	}
	var out []*Aggregate
	for _, name := range fs.order {
		aw := fmt.Sprintf("%s: %s", what, name)
		if !validFieldName(name) {
			d.errf(fs.keys[name], "", "%s: %q is not a valid field name", what, name)
			continue
		}
		v := fs.vals[name]
		src, rewrote, ok := d.scalar(v, aw)
		if !ok {
			continue
		}
		if a := d.aggregate(v, src, rewrote, aw); a != nil {
			a.Name = name
			a.Pos = d.pos(fs.keys[name])
			out = append(out, a)
		}
	}
	return out
}

// aggregate parses fn(arg) or fn(arg, param). The argument is an
// expression whose position inside the value is kept, so a type error in
// it points at the right column.
func (d *decoder) aggregate(n *yaml.Node, src string, rewrote bool, what string) *Aggregate {
	open := strings.IndexByte(src, '(')
	closeAt := strings.LastIndexByte(src, ')')
	if open < 0 || closeAt < open || strings.TrimSpace(src[closeAt+1:]) != "" {
		d.errf(n, "write a function call: count(), sum(x), avg(x), min(x), max(x), first(x), last(x), count_distinct(x), percentile(x, 95)", "%s: expected an aggregate like avg(temperature), got %q", what, src)
		return nil
	}
	fn := strings.TrimSpace(src[:open])
	nargs, known := aggFuncs[fn]
	if !known {
		d.diags.add(d.offsetPos(n, 0), suggest(fn, aggNames(), "aggregate function"), "%s: unknown aggregate function %q", what, fn)
		return nil
	}
	a := &Aggregate{Func: fn}
	inner := src[open+1 : closeAt]
	args := splitArgs(inner)
	if strings.TrimSpace(inner) == "" {
		args = nil
	}
	if len(args) != nargs {
		d.errf(n, "", "%s: %s takes %d argument(s), got %d", what, fn, nargs, len(args))
		return nil
	}
	if nargs == 0 {
		return a
	}
	argOff := open + 1 + args[0].off
	a.Arg = d.exprAt(n, args[0].text, argOff, rewrote)
	if strings.TrimSpace(args[0].text) == "" {
		d.errf(n, "", "%s: empty argument", what)
		return nil
	}
	if fn == "percentile" {
		p, err := strconv.ParseFloat(strings.TrimSpace(args[1].text), 64)
		if err != nil || p < 0 || p > 100 {
			lead := len(args[1].text) - len(strings.TrimLeft(args[1].text, " "))
			d.diags.add(d.offsetPos(n, open+1+args[1].off+lead), "the percentile is a number from 0 to 100, e.g. percentile(latency_ms, 99)", "%s: bad percentile %q", what, strings.TrimSpace(args[1].text))
			return nil
		}
		a.Param = p
	}
	return a
}

type arg struct {
	text string
	off  int
}

// splitArgs splits a call's argument text on top-level commas (not those
// inside parentheses, brackets, braces or quotes).
func splitArgs(s string) []arg {
	var out []arg
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, arg{text: s[start:i], off: start})
			start = i + 1
		}
	}
	return append(out, arg{text: s[start:], off: start})
}
