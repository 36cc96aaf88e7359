package pipelines

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
)

// Check validates what the decoder cannot see one node at a time: names
// that must be unique across files, references between sources, steps and
// sinks, connector configs, and every expression, compiled once here
// against the record type at its point of the pipeline.
func Check(set *Set, opts *Options) Diagnostics {
	var ds Diagnostics
	names := map[string]Pos{}
	apps := map[string]Pos{}
	for _, p := range set.Pipelines {
		dupName := false
		if p.Name != "" {
			if prev, dup := names[p.Name]; dup {
				ds.add(p.Pos, "pipeline names must be unique across the files run together", "duplicate pipeline name %q (first defined at %s)", p.Name, prev)
				dupName = true
			} else {
				names[p.Name] = p.Pos
			}
			if p.ApplicationID == "" {
				p.ApplicationID = "sluice-" + p.Name
			}
		}
		if p.ApplicationID != "" && !dupName {
			if prev, dup := apps[p.ApplicationID]; dup {
				ds.add(p.Pos, "two pipelines in one consumer group would steal each other's partitions; set application_id", "duplicate application_id %q (also used at %s)", p.ApplicationID, prev)
			} else {
				apps[p.ApplicationID] = p.Pos
			}
		}
		c := &checker{p: p, ds: &ds, cat: opts.catalog(), sources: map[string]*Source{}, sinks: map[string]*Sink{}, usedSources: map[string]bool{}}
		c.check()
	}
	return ds
}

type checker struct {
	p           *Pipeline
	ds          *Diagnostics
	cat         ConnectorCatalog
	sources     map[string]*Source
	sinks       map[string]*Sink
	usedSources map[string]bool
	// unresolved is set when a reference to a source or sink failed; the
	// "never used" checks are then skipped, as the unused one is most
	// likely the one the typo meant.
	unresolved bool
}

func (c *checker) errf(p Pos, hint, format string, args ...any) {
	c.ds.add(p, hint, format, args...)
}

func (c *checker) check() {
	p := c.p
	p.srcTypes = map[string]*recordType{}
	p.stepTypes = map[Step]*recordType{}
	topics := map[string]*Source{}
	for _, s := range p.Sources {
		c.sources[s.Name] = s
		c.source(s)
		if s.Topic == "" {
			continue
		}
		if prev, dup := topics[s.Topic]; dup {
			c.errf(s.Pos, "read a topic once; to join a stream with itself, derive both sides in separate pipelines", "pipeline %q: sources %q and %q both read topic %q", p.Name, prev.Name, s.Name, s.Topic)
		}
		topics[s.Topic] = s
	}
	for _, s := range p.Sinks {
		c.sinks[s.Name] = s
		if s.Connector != "" {
			c.connector("sink", s.Connector, s.Config, s.Pos, fmt.Sprintf("sink %q", s.Name))
		}
	}
	if len(p.Sources) == 0 {
		return // reported by the decoder
	}
	from := p.Sources[0]
	if p.From.Name != "" {
		s, ok := c.sources[p.From.Name]
		if !ok {
			c.errf(p.From.Pos, suggest(p.From.Name, c.sourceNames(), "source"), "pipeline %q: from: no source named %q", p.Name, p.From.Name)
			return
		}
		from = s
	}
	c.usedSources[from.Name] = true
	t := sourceType(from)
	endsInRoute := c.steps(p.Steps, t, from, false)
	switch {
	case endsInRoute && p.toGiven:
		c.errf(p.To[0].Pos, "remove to:, or end the route's branches in these sinks", "pipeline %q: to: is not used after a route step (each branch names its own sinks)", p.Name)
	case !endsInRoute && !p.toGiven:
		c.errf(p.Pos, "name the sink(s) the records go to, e.g. to: out", "pipeline %q: missing required field %q", p.Name, "to")
		c.unresolved = true
	case !endsInRoute:
		c.sinkRefs(p.To, fmt.Sprintf("pipeline %q: to", p.Name))
	}
	if c.unresolved {
		return
	}
	for _, s := range p.Sources {
		if !c.usedSources[s.Name] {
			c.errf(s.Pos, "read it with from:, join it with a join step, or remove it", "pipeline %q: source %q is never used", p.Name, s.Name)
		}
	}
	for _, s := range p.Sinks {
		if !s.used {
			c.errf(s.Pos, "name it in to: or in a route branch, or remove it", "pipeline %q: sink %q is never written to", p.Name, s.Name)
		}
	}
}

func (c *checker) sourceNames() []string {
	out := make([]string, 0, len(c.p.Sources))
	for _, s := range c.p.Sources {
		out = append(out, s.Name)
	}
	return out
}

func (c *checker) sinkNames() []string {
	out := make([]string, 0, len(c.p.Sinks))
	for _, s := range c.p.Sinks {
		out = append(out, s.Name)
	}
	return out
}

func sourceType(s *Source) *recordType {
	if s.Schema != nil {
		return schemaType(s.Schema)
	}
	return openType()
}

func (c *checker) source(s *Source) {
	what := fmt.Sprintf("source %q", s.Name)
	if s.Connector != "" {
		c.connector("source", s.Connector, s.Config, s.Pos, what)
	}
	t := sourceType(s)
	c.p.srcTypes[s.Name] = t
	if s.Timestamp != nil {
		c.compile(s.Timestamp, t, what+": timestamp", nil)
		if s.Timestamp.Type != nil && !isNumeric(s.Timestamp.Type) && s.Timestamp.Type != stringType && s.Timestamp.Type != timeType {
			c.errf(s.Timestamp.Pos, "give epoch milliseconds, an RFC 3339 string or a time", "%s: timestamp: expression has type %s", what, typeName(s.Timestamp.Type))
		}
	}
	if s.Key != nil {
		c.compile(s.Key, t, what+": key", nil)
	}
}

func (c *checker) connector(kind, plugin string, cfg []ConfigEntry, at Pos, what string) {
	if c.cat == nil {
		return
	}
	m := make(map[string]string, len(cfg))
	pos := map[string]Pos{}
	for _, e := range cfg {
		m[e.Key] = e.Value
		pos[e.Key] = e.Pos
	}
	problems, known := c.cat.Validate(kind, plugin, m)
	if !known {
		c.errf(at, suggest(plugin, c.cat.Plugins(kind), kind+" connector"), "%s: unknown %s connector %q", what, kind, plugin)
		return
	}
	for _, pr := range problems {
		p, ok := pos[pr.Key]
		if !ok {
			p = at
		}
		c.errf(p, pr.Hint, "%s: connector %s: %s", what, plugin, pr.Msg)
	}
}

// sinkRefs resolves sink names and marks the sinks used.
func (c *checker) sinkRefs(refs []Ref, what string) {
	for _, r := range refs {
		s, ok := c.sinks[r.Name]
		if !ok {
			c.errf(r.Pos, suggest(r.Name, c.sinkNames(), "sink"), "%s: no sink named %q", what, r.Name)
			c.unresolved = true
			continue
		}
		s.used = true
	}
}

// compile compiles an expression against a record type. want, when not
// nil, is the type the result must have (bool for conditions).
func (c *checker) compile(e *Expr, t *recordType, what string, want reflect.Type) bool {
	if e == nil {
		return false
	}
	opts := []expr.Option{expr.Env(t.env())}
	if !t.closed {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	if want == boolType {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(e.Src, opts...)
	if err != nil {
		c.exprError(e, t, what, err)
		return false
	}
	e.Program = prog
	e.Type = prog.Node().Type()
	if e.Type == anyType {
		e.Type = nil
	}
	return true
}

func (c *checker) exprError(e *Expr, t *recordType, what string, err error) {
	var fe *file.Error
	if !errors.As(err, &fe) {
		msg, hint := err.Error(), ""
		if strings.HasPrefix(msg, "expected bool") {
			hint = "a condition must be true or false, e.g. temperature > 80"
		}
		c.errf(e.Pos, hint, "%s: %s", what, msg)
		return
	}
	msg, hint := fe.Message, ""
	if name, ok := strings.CutPrefix(msg, "unknown name "); ok {
		if t.closed {
			hint = suggest(name, t.names(), "field")
			msg = fmt.Sprintf("unknown field %s", name)
		}
	} else if msg == "unexpected token EOF" {
		msg = "unexpected end of expression"
		hint = "an operand or a closing parenthesis is missing"
	}
	c.errf(e.PosAt(fe.From), hint, "%s: %s", what, msg)
}
