package compile

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/record"
)

// Options tune compilation.
type Options struct {
	// Logger receives record errors (rate-limited); default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, gets the sluice_pipeline_record_errors_total
	// counter.
	Registerer prometheus.Registerer
}

// Topic is a topic a pipeline reads or writes. The runner creates the
// missing ones before starting (internal topics are the engine's).
type Topic struct {
	Name string
	// Partitions for a topic the runner creates; 0 means the broker's
	// default.
	Partitions int
	// Compact is set for table sources (a changelog: latest value per
	// key).
	Compact bool
}

// Connector is a connector the runner starts with the pipeline: a source
// writing into the topic the pipeline reads, or a sink reading the topic
// the pipeline writes.
type Connector struct {
	// Name is unique per application: "<app-id>-<source or sink name>".
	Name string
	Kind string // "source" or "sink"
	// Config is the full worker config: the user's options plus
	// connector.class, name, and topic (sources) or topics (sinks).
	Config map[string]string
	Topic  string
}

// Compiled is a pipeline ready to run.
type Compiled struct {
	Pipeline   *pipelines.Pipeline
	AppID      string
	Topology   *operators.Topology
	Topics     []Topic
	Connectors []Connector
	// Errors counts records skipped because an expression failed on them.
	Errors *Errors
}

// ErrCompile wraps errors building the topology (the checker should have
// caught them; they indicate a gap between checker and compiler).
var ErrCompile = errors.New("pipeline compile")

// Compile builds a checked pipeline's topology and run plan. The pipeline
// must come from a Set that linted clean: Compile relies on the checker's
// compiled expressions and record types.
func Compile(p *pipelines.Pipeline, opts *Options) (*Compiled, error) {
	if opts == nil {
		opts = &Options{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	errs := &Errors{pipeline: p.Name, log: log}
	if opts.Registerer != nil {
		errs.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_pipeline_record_errors_total",
			Help: "Records skipped because an expression failed on them, by pipeline and expression position.",
		}, []string{"pipeline", "at"})
		if err := opts.Registerer.Register(errs.counter); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("pipeline %s: metrics: %w", p.Name, err)
			}
			errs.counter = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	c := &compiler{
		p: p, b: operators.NewBuilder(), errs: errs,
		out:     &Compiled{Pipeline: p, AppID: p.ApplicationID, Errors: errs},
		streams: map[string]flow{}, tables: map[string]operators.Table[string, Value]{},
		topicSeen: map[string]bool{},
	}
	if err := c.compile(); err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %v", ErrCompile, p.Name, err)
	}
	topo, err := c.b.Build()
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %v", ErrCompile, p.Name, err)
	}
	c.out.Topology = topo
	return c.out, nil
}

type compiler struct {
	p    *pipelines.Pipeline
	b    *operators.Builder
	errs *Errors
	out  *Compiled

	streams   map[string]flow
	tables    map[string]operators.Table[string, Value]
	topicSeen map[string]bool
	dlq       []operators.Stream[string, Value]
}

// flow is the stream being compiled and what is known about it.
type flow struct {
	s      operators.Stream[string, Value]
	fields []record.Field
	// rekeyed: the key changed since the records were partitioned, so a
	// keyed step must repartition first.
	rekeyed bool
}

func (c *compiler) compile() error {
	p := c.p
	from := p.Sources[0]
	if p.From.Name != "" {
		from = c.source(p.From.Name)
	}
	f := c.read(from)
	f, ended := c.steps(f, p.Steps, "")
	if !ended {
		c.sink(f, p.To, "")
	}
	if len(c.dlq) > 0 {
		d := c.dlq[0]
		for _, s := range c.dlq[1:] {
			d = d.Merge(s)
		}
		c.topic(Topic{Name: p.DeadLetterTopic})
		d.WithSerdes(operators.String, valueSerde(dlqFields)).To(p.DeadLetterTopic, operators.Named("dead-letters"))
	}
	return nil
}

func (c *compiler) source(name string) *pipelines.Source {
	for _, s := range c.p.Sources {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (c *compiler) topic(t Topic) {
	if c.topicSeen[t.Name] {
		return
	}
	c.topicSeen[t.Name] = true
	c.out.Topics = append(c.out.Topics, t)
}

// sourceTopic is the topic a source's records are read from: its own, or
// the one its connector writes.
func (c *compiler) sourceTopic(s *pipelines.Source) string {
	if s.Topic != "" {
		return s.Topic
	}
	return c.p.ApplicationID + "-source-" + s.Name
}

func (c *compiler) sinkTopic(s *pipelines.Sink) string {
	if s.Topic != "" {
		return s.Topic
	}
	return c.p.ApplicationID + "-sink-" + s.Name
}

// read returns the stream of a source, building its source node once.
func (c *compiler) read(s *pipelines.Source) flow {
	if f, ok := c.streams[s.Name]; ok {
		return f
	}
	if s.Table {
		t := c.table(s)
		f := flow{s: t.ToStream(operators.Named("table-"+s.Name+"-stream")).WithSerdes(operators.String, valueSerde(c.p.SourceFields(s.Name))), fields: c.p.SourceFields(s.Name)}
		c.streams[s.Name] = f
		return f
	}
	topic := c.sourceTopic(s)
	c.topic(Topic{Name: topic, Partitions: s.Partitions})
	c.connector(s.Name, "source", s.Connector, s.Config, topic)
	fields := c.p.SourceFields(s.Name)
	var opts []operators.Option
	opts = append(opts, operators.Named("source-"+s.Name))
	if s.Timestamp != nil {
		opts = append(opts, operators.TimestampFrom(c.extractor(s)))
	}
	st := operators.StreamOf(c.b, topic, operators.String, valueSerde(fields), opts...)
	f := flow{s: st, fields: fields}
	if s.Key != nil {
		f = c.rekey(f, s.Key, "source-"+s.Name+"-key", "source key")
	}
	c.streams[s.Name] = f
	return f
}

// table returns the table of a table source, building it once.
func (c *compiler) table(s *pipelines.Source) operators.Table[string, Value] {
	if t, ok := c.tables[s.Name]; ok {
		return t
	}
	topic := c.sourceTopic(s)
	c.topic(Topic{Name: topic, Partitions: s.Partitions, Compact: true})
	c.connector(s.Name, "source", s.Connector, s.Config, topic)
	var opts []operators.Option
	opts = append(opts, operators.Named("table-"+s.Name), operators.Materialized("table-"+s.Name+"-store"))
	if s.Timestamp != nil {
		opts = append(opts, operators.TimestampFrom(c.extractor(s)))
	}
	t := operators.TableOf(c.b, topic, operators.String, valueSerde(c.p.SourceFields(s.Name)), opts...)
	c.tables[s.Name] = t
	return t
}

func (c *compiler) connector(name, kind, plugin string, cfg []pipelines.ConfigEntry, topic string) {
	if plugin == "" {
		return
	}
	m := map[string]string{}
	for _, e := range cfg {
		m[e.Key] = e.Value
	}
	if p, ok := (pipelines.SDKCatalog{}).Resolve(kind, plugin); ok {
		plugin = p.Name
	}
	cname := c.p.ApplicationID + "-" + kind + "-" + name
	m["name"] = cname
	m["connector.class"] = plugin
	if kind == "source" {
		m["topic"] = topic
	} else {
		m["topics"] = topic
	}
	c.out.Connectors = append(c.out.Connectors, Connector{Name: cname, Kind: kind, Config: m, Topic: topic})
}

// extractor evaluates a source's timestamp expression; a record it fails
// on keeps its Kafka timestamp (and the error is counted).
func (c *compiler) extractor(s *pipelines.Source) func(string, Value, int64) int64 {
	e := s.Timestamp
	where := "source " + s.Name + ": timestamp"
	return func(_ string, v Value, ts int64) int64 {
		if v == nil {
			return ts
		}
		out, err := c.run(e, v)
		if err == nil {
			t, terr := record.ToTime(out)
			if terr == nil {
				return t.UnixMilli()
			}
			err = terr
		}
		c.errs.record(&RecordError{Where: e.Pos, Step: where, Err: err})
		return ts
	}
}

// sink writes a flow to sinks. Sinks that share a topic (a topic sink and
// a connector reading that topic) get the records once.
func (c *compiler) sink(f flow, refs []pipelines.Ref, path string) {
	written := map[string]bool{}
	typed := false
	for _, r := range refs {
		var s *pipelines.Sink
		for _, x := range c.p.Sinks {
			if x.Name == r.Name {
				s = x
			}
		}
		if s == nil {
			continue
		}
		topic := c.sinkTopic(s)
		c.topic(Topic{Name: topic, Partitions: s.Partitions})
		if !c.sinkSeen(s.Name) {
			c.connector(s.Name, "sink", s.Connector, s.Config, topic)
		}
		if written[topic] {
			continue
		}
		written[topic] = true
		name := "to-" + s.Name
		if path != "" {
			name += "-" + path
		}
		if !typed {
			f.s = withSchemaHeader(f.s, f.fields, "schema-"+strings.Trim(path+"-"+s.Name, "-"))
			typed = true
		}
		f.s.WithSerdes(operators.String, valueSerde(f.fields)).To(topic, operators.Named(name))
	}
}

func (c *compiler) sinkSeen(name string) bool {
	want := c.p.ApplicationID + "-sink-" + name
	for _, k := range c.out.Connectors {
		if k.Name == want {
			return true
		}
	}
	return false
}
