package pipelines

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decoder turns yaml.Nodes into the spec, collecting every problem as a
// positioned diagnostic instead of stopping at the first.
type decoder struct {
	file  string
	lines []string // the raw file, for positions inside block scalars
	env   EnvLookup
	diags *Diagnostics
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errf(n *yaml.Node, hint, format string, args ...any) {
	d.diags.add(d.pos(n), hint, format, args...)
}

// resolve follows YAML aliases (*anchor) to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing (null)"
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "something else"
}

// fieldSet is a mapping node read as named fields.
type fieldSet struct {
	d     *decoder
	n     *yaml.Node
	what  string
	vals  map[string]*yaml.Node
	order []string
	keys  map[string]*yaml.Node
}

// fields reads a mapping, reporting duplicate keys and keys not in known
// (with a did-you-mean). It returns nil, after reporting, when n is not a
// mapping.
func (d *decoder) fields(n *yaml.Node, what string, known ...string) *fieldSet {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errf(n, "", "%s: expected a mapping of fields, got %s", what, describe(n))
		return nil
	}
	fs := &fieldSet{d: d, n: n, what: what, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errf(k, "", "%s: field names must be plain strings, got %s", what, describe(k))
			continue
		}
		if prev, dup := fs.keys[k.Value]; dup {
			d.errf(k, "remove one of them", "%s: duplicate field %q (first set at line %d)", what, k.Value, prev.Line)
			continue
		}
		if known != nil && !contains(known, k.Value) {
			d.errf(k, suggest(k.Value, known, "field"), "%s: unknown field %q", what, k.Value)
			continue
		}
		fs.keys[k.Value] = k
		fs.vals[k.Value] = resolve(v)
		fs.order = append(fs.order, k.Value)
	}
	return fs
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// get returns the value of a field, or nil when absent (a null value
// counts as absent: `size:` with nothing after it).
func (f *fieldSet) get(name string) *yaml.Node {
	v := f.vals[name]
	if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		return nil
	}
	return v
}

// require returns a field's value or reports it missing.
func (f *fieldSet) require(name, hint string) *yaml.Node {
	v := f.get(name)
	if v == nil {
		if k := f.keys[name]; k != nil {
			f.d.errf(k, hint, "%s: field %q has no value", f.what, name)
		} else {
			f.d.errf(f.n, hint, "%s: missing required field %q", f.what, name)
		}
	}
	return v
}

// keyPos is where a field's name was written (for messages about the field
// as a whole).
func (f *fieldSet) keyPos(name string) *yaml.Node {
	if k := f.keys[name]; k != nil {
		return k
	}
	return f.n
}

// scalar returns a scalar's text after ${ENV} substitution.
func (d *decoder) scalar(n *yaml.Node, what string) (s string, rewrote, ok bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode {
		d.errf(n, "", "%s: expected a single value, got %s", what, describe(n))
		return "", false, false
	}
	out, changed, errs := expandEnv(n.Value, d.env)
	for _, e := range errs {
		d.diags.add(d.offsetPos(n, e.Off), e.Hint, "%s: %s", what, e.Msg)
	}
	return out, changed, len(errs) == 0
}

func (d *decoder) str(n *yaml.Node, what string) (string, bool) {
	s, _, ok := d.scalar(n, what)
	if ok && s == "" {
		d.errf(n, "", "%s: must not be empty", what)
		return "", false
	}
	return s, ok
}

// name reads a name used in topic and group names: letters, digits, '.',
// '_' and '-'.
func (d *decoder) name(n *yaml.Node, what string) (string, bool) {
	s, ok := d.str(n, what)
	if !ok {
		return "", false
	}
	for _, r := range s {
		if !(r == '.' || r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			d.errf(n, "use letters, digits, '.', '_' and '-'", "%s: %q is not a valid name", what, s)
			return "", false
		}
	}
	if len(s) > 200 {
		d.errf(n, "", "%s: name longer than 200 characters", what)
		return "", false
	}
	return s, true
}

func (d *decoder) boolean(n *yaml.Node, what string) (bool, bool) {
	s, _, ok := d.scalar(n, what)
	if !ok {
		return false, false
	}
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, true
	case "false", "no", "off":
		return false, true
	}
	d.errf(n, "use true or false", "%s: expected a boolean, got %q", what, s)
	return false, false
}

func (d *decoder) integer(n *yaml.Node, what string, lo, hi int) (int, bool) {
	s, _, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		d.errf(n, "", "%s: expected a whole number, got %q", what, s)
		return 0, false
	}
	if v < lo || v > hi {
		d.errf(n, "", "%s: %d is out of range [%d, %d]", what, v, lo, hi)
		return 0, false
	}
	return v, true
}

// duration reads a Go duration ("500ms", "30s", "5m", "1h30m") or whole
// days ("7d").
func (d *decoder) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, _, ok := d.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.errf(n, "use a number with a unit: 500ms, 30s, 5m, 1h, 7d", "%s: bad duration %q", what, s)
		return 0, false
	}
	if v < 0 {
		d.errf(n, "", "%s: duration %q must not be negative", what, s)
		return 0, false
	}
	return v, true
}

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// enum reads one of a fixed set of words.
func (d *decoder) enum(n *yaml.Node, what string, choices ...string) (string, bool) {
	s, _, ok := d.scalar(n, what)
	if !ok {
		return "", false
	}
	if !contains(choices, s) {
		d.errf(n, suggest(s, choices, "value"), "%s: unknown value %q", what, s)
		return "", false
	}
	return s, true
}

// expr reads an expression; it is compiled later, by the checker, once
// the record type at that point of the pipeline is known.
func (d *decoder) expr(n *yaml.Node, what string) *Expr {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag != "!!str" && n.Tag != "!!null" {
		// A number or boolean literal is a fine expression.
		return d.exprAt(n, n.Value, 0, false)
	}
	s, rewrote, ok := d.scalar(n, what)
	if !ok {
		return nil
	}
	if strings.TrimSpace(s) == "" {
		d.errf(n, "", "%s: empty expression", what)
		return nil
	}
	return d.exprAt(n, s, 0, rewrote)
}

// exprAt makes an Expr for src, which starts at byte offset off of n's
// value.
func (d *decoder) exprAt(n *yaml.Node, src string, off int, rewrote bool) *Expr {
	e := &Expr{Pos: d.offsetPos(n, off), Src: src}
	if !rewrote {
		e.at = func(runeOff int) Pos {
			b := len(src)
			if runeOff < utf8.RuneCountInString(src) {
				b = len(string([]rune(src)[:runeOff]))
			}
			return d.offsetPos(n, off+b)
		}
	}
	return e
}

// refs reads one name or a list of names.
func (d *decoder) refs(n *yaml.Node, what string) []Ref {
	n = resolve(n)
	var items []*yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		items = n.Content
		if len(items) == 0 {
			d.errf(n, "", "%s: empty list", what)
		}
	default:
		items = []*yaml.Node{n}
	}
	var out []Ref
	for _, it := range items {
		if s, ok := d.str(it, what); ok {
			out = append(out, Ref{Pos: d.pos(resolve(it)), Name: s})
		}
	}
	return out
}

// offsetPos is the position of byte offset off inside a scalar's value.
func (d *decoder) offsetPos(n *yaml.Node, off int) Pos {
	if off < 0 || off > len(n.Value) {
		return d.pos(n)
	}
	prefix := n.Value[:off]
	line := strings.Count(prefix, "\n")
	col := utf8.RuneCountInString(prefix[strings.LastIndexByte(prefix, '\n')+1:])
	return d.innerPos(n, line+1, col)
}

// innerPos maps a position inside a scalar's value (1-based line, 0-based
// rune column, as expr reports them) to a position in the file. Where the
// mapping is not exact (folded scalars), it falls back to the scalar's
// start.
func (d *decoder) innerPos(n *yaml.Node, line, col int) Pos {
	p := d.pos(n)
	switch {
	case n.Style&yaml.LiteralStyle != 0:
		fileLine := n.Line + line // content starts on the line after "|"
		if fileLine-1 < len(d.lines) {
			indent := blockIndent(d.lines, n.Line)
			return Pos{File: d.file, Line: fileLine, Col: indent + 1 + col}
		}
	case n.Style&yaml.FoldedStyle != 0:
	case line == 1:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			col++
		}
		p.Col += col
	}
	return p
}

// blockIndent is the indentation of a block scalar's first content line
// (the header "|" is on line header, 1-based).
func blockIndent(lines []string, header int) int {
	for i := header; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" {
			continue
		}
		return len(l) - len(strings.TrimLeft(l, " "))
	}
	return 0
}
