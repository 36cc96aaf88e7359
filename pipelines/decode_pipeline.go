package pipelines

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

var pipelineFields = []string{"name", "description", "application_id", "guarantee", "dead_letter_topic", "sources", "from", "steps", "to", "sinks"}

// pipeline reads one pipeline mapping. It returns the pipeline even when
// parts of it are wrong, so that the checker can report the rest.
func (d *decoder) pipeline(n *yaml.Node) *Pipeline {
	fs := d.fields(n, "pipeline", pipelineFields...)
	if fs == nil {
		return nil
	}
	p := &Pipeline{Pos: d.pos(n), Guarantee: "at_least_once"}
	if v := fs.require("name", "every pipeline needs a name: it names its consumer group and internal topics"); v != nil {
		p.Name, _ = d.name(v, "pipeline name")
	}
	what := "pipeline"
	if p.Name != "" {
		what = fmt.Sprintf("pipeline %q", p.Name)
	}
	if v := fs.get("description"); v != nil {
		d.scalar(v, what+": description")
	}
	if v := fs.get("application_id"); v != nil {
		p.ApplicationID, _ = d.name(v, what+": application_id")
	}
	if v := fs.get("guarantee"); v != nil {
		if g, ok := d.enum(v, what+": guarantee", "at_least_once", "exactly_once"); ok {
			p.Guarantee = g
		}
	}
	if v := fs.get("dead_letter_topic"); v != nil {
		p.DeadLetterTopic, _ = d.name(v, what+": dead_letter_topic")
	}
	if v := fs.require("sources", "name at least one source, e.g. sources: {readings: {topic: sensor-readings}}"); v != nil {
		p.Sources = d.sources(v, what)
	}
	if v := fs.get("sinks"); v != nil {
		p.Sinks = d.sinks(v, what)
	} else {
		d.errf(fs.n, "name at least one sink, e.g. sinks: {out: {topic: results}}", "%s: missing required field %q", what, "sinks")
	}
	if v := fs.get("from"); v != nil {
		if s, ok := d.str(v, what+": from"); ok {
			p.From = Ref{Pos: d.pos(v), Name: s}
		}
	}
	if v := fs.get("steps"); v != nil {
		p.Steps = d.steps(v, what+": steps")
	}
	if v := fs.get("to"); v != nil {
		p.To = d.refs(v, what+": to")
		p.toGiven = true
	} else if _, present := fs.keys["to"]; present {
		d.errf(fs.keyPos("to"), "", "%s: field %q has no value", what, "to")
		p.toGiven = true
	}
	return p
}

var sourceFields = []string{"topic", "connector", "config", "table", "partitions", "format", "schema", "timestamp", "key"}

func (d *decoder) sources(n *yaml.Node, what string) []*Source {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errf(n, "e.g. sources: {readings: {topic: sensor-readings}}", "%s: sources: expected a mapping of source names to sources, got %s", what, describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.errf(n, "", "%s: sources: empty", what)
	}
	var out []*Source
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		name, ok := d.name(k, what+": source name")
		if !ok {
			continue
		}
		if line, dup := seen[name]; dup {
			d.errf(k, "rename one of them", "%s: duplicate source %q (first defined at line %d)", what, name, line)
			continue
		}
		seen[name] = k.Line
		s := &Source{Pos: d.pos(k), Name: name, Format: "json"}
		out = append(out, s)
		sw := fmt.Sprintf("source %q", name)
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" { // shorthand: the topic name
			s.Topic, _ = d.name(v, sw+": topic")
			continue
		}
		fs := d.fields(v, sw, sourceFields...)
		if fs == nil {
			continue
		}
		d.endpoint(fs, sw, &s.Topic, &s.Connector, &s.Config, &s.Partitions)
		if v := fs.get("table"); v != nil {
			s.Table, _ = d.boolean(v, sw+": table")
		}
		if v := fs.get("format"); v != nil {
			if f, ok := d.enum(v, sw+": format", "json"); ok {
				s.Format = f
			}
		}
		if v := fs.get("schema"); v != nil {
			s.Schema = d.schema(v, sw+": schema")
		}
		if v := fs.get("timestamp"); v != nil {
			s.Timestamp = d.expr(v, sw+": timestamp")
		}
		if v := fs.get("key"); v != nil {
			s.Key = d.expr(v, sw+": key")
		}
	}
	return out
}

var sinkFields = []string{"topic", "connector", "config", "partitions"}

func (d *decoder) sinks(n *yaml.Node, what string) []*Sink {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.errf(n, "e.g. sinks: {alerts: {topic: sensor-alerts}}", "%s: sinks: expected a mapping of sink names to sinks, got %s", what, describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.errf(n, "", "%s: sinks: empty", what)
	}
	var out []*Sink
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		name, ok := d.name(k, what+": sink name")
		if !ok {
			continue
		}
		if line, dup := seen[name]; dup {
			d.errf(k, "rename one of them", "%s: duplicate sink %q (first defined at line %d)", what, name, line)
			continue
		}
		seen[name] = k.Line
		s := &Sink{Pos: d.pos(k), Name: name}
		out = append(out, s)
		sw := fmt.Sprintf("sink %q", name)
		if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			s.Topic, _ = d.name(v, sw+": topic")
			continue
		}
		fs := d.fields(v, sw, sinkFields...)
		if fs == nil {
			continue
		}
		d.endpoint(fs, sw, &s.Topic, &s.Connector, &s.Config, &s.Partitions)
	}
	return out
}

// endpoint reads what sources and sinks share: a topic, or a connector
// with its config (and optionally the topic between it and the pipeline).
func (d *decoder) endpoint(fs *fieldSet, what string, topic, connector *string, config *[]ConfigEntry, partitions *int) {
	if v := fs.get("topic"); v != nil {
		*topic, _ = d.name(v, what+": topic")
	}
	if v := fs.get("connector"); v != nil {
		*connector, _ = d.str(v, what+": connector")
	}
	if v := fs.get("partitions"); v != nil {
		*partitions, _ = d.integer(v, what+": partitions", 1, 10000)
	}
	if v := fs.get("config"); v != nil {
		if *connector == "" && fs.get("connector") == nil {
			d.errf(fs.keyPos("config"), "add connector: <plugin name>, or remove config", "%s: config is only for connectors", what)
		}
		*config = d.config(v, what+": config")
	}
	if fs.get("topic") == nil && fs.get("connector") == nil {
		d.errf(fs.n, "give topic: <name>, or connector: <plugin> with its config", "%s: missing required field %q", what, "topic")
	}
}

// config reads connector options: a flat mapping of names to scalar
// values, kept as strings as in Kafka Connect.
func (d *decoder) config(n *yaml.Node, what string) []ConfigEntry {
	fs := d.fields(n, what)
	if fs == nil {
		return nil
	}
	var out []ConfigEntry
	for _, k := range fs.order {
		v := fs.vals[k]
		if v.Kind == yaml.SequenceNode { // a list is joined with commas, as Connect does
			var parts []string
			for _, it := range v.Content {
				if s, _, ok := d.scalar(it, what+": "+k); ok {
					parts = append(parts, s)
				}
			}
			out = append(out, ConfigEntry{Pos: d.pos(fs.keys[k]), Key: k, Value: strings.Join(parts, ",")})
			continue
		}
		s, _, ok := d.scalar(v, what+": "+k)
		if !ok {
			continue
		}
		if v.Tag == "!!null" {
			s = ""
		}
		out = append(out, ConfigEntry{Pos: d.pos(fs.keys[k]), Key: k, Value: s})
	}
	return out
}

// schemaTypes maps accepted type names (Arrow names and common aliases) to
// the canonical Arrow name.
var schemaTypes = map[string]string{
	"utf8": "utf8", "string": "utf8", "large_utf8": "utf8",
	"int64": "int64", "int": "int64", "long": "int64", "int32": "int64", "integer": "int64",
	"float64": "float64", "double": "float64", "float": "float64", "float32": "float64", "number": "float64",
	"bool": "bool", "boolean": "bool",
	"timestamp": "timestamp", "timestamp[ms]": "timestamp", "timestamp[us]": "timestamp", "timestamptz": "timestamp",
	"any": "any", "json": "any",
}

func (d *decoder) schema(n *yaml.Node, what string) *Schema {
	fs := d.fields(n, what)
	if fs == nil {
		return nil
	}
	s := &Schema{Pos: d.pos(n)}
	for _, k := range fs.order {
		t, ok := d.str(fs.vals[k], what+": "+k)
		if !ok {
			continue
		}
		canon, known := schemaTypes[t]
		if !known {
			d.errf(fs.vals[k], suggest(t, []string{"utf8", "string", "int64", "float64", "double", "bool", "timestamp", "any"}, "type"), "%s: unknown type %q for field %q", what, t, k)
			continue
		}
		s.Fields = append(s.Fields, SchemaField{Pos: d.pos(fs.keys[k]), Name: k, Type: canon})
	}
	return s
}
