package pipelines

import (
	"reflect"
	"time"

	"github.com/expr-lang/expr/vm"
)

// Pipeline is one pipeline as written in a file: where records come from,
// what happens to them, and where they go. Every element keeps the position
// it was written at, for diagnostics.
type Pipeline struct {
	Pos  Pos
	Name string
	// ApplicationID is the consumer group and the prefix of internal topics
	// (repartitions, changelogs). Defaults to "sluice-" + Name.
	ApplicationID string
	// Guarantee is "at_least_once" (default) or "exactly_once".
	Guarantee string
	// DeadLetterTopic, when set, receives the records an expression failed
	// on at run time (a missing field, a type surprise), with the error;
	// without it they are skipped, counted and logged.
	DeadLetterTopic string

	Sources []*Source
	Sinks   []*Sink
	// From names the source the steps read; it defaults to the only stream
	// source (join steps name the others).
	From    Ref
	Steps   []Step
	To      []Ref
	toGiven bool

	// What the checker learned about record types, for the compiler.
	srcTypes  map[string]*recordType
	stepTypes map[Step]*recordType
}

// Ref is a name that refers to a source or a sink, with where it was
// written.
type Ref struct {
	Pos  Pos
	Name string
}

// Source is where a pipeline reads records: a topic, or a connector (by
// plugin name and config) that the runner starts in front of a topic.
type Source struct {
	Pos       Pos
	Name      string
	Topic     string
	Connector string
	Config    []ConfigEntry
	// Table makes the source a changelog table (latest value per key) for
	// stream–table joins, rather than a stream.
	Table bool
	// Partitions is used when the runner creates a missing topic.
	Partitions int
	Format     string
	Schema     *Schema
	// Timestamp, when set, gives each record's event time (epoch
	// milliseconds, an RFC 3339 string or a time); otherwise the Kafka
	// record timestamp is used.
	Timestamp *Expr
	// Key, when set, re-keys the records as they are read.
	Key *Expr
}

// Sink is where records go: a topic, or a connector that the runner feeds
// from a topic.
type Sink struct {
	Pos        Pos
	Name       string
	Topic      string
	Connector  string
	Config     []ConfigEntry
	Partitions int
	used       bool
}

// ConfigEntry is one connector option as written (after ${ENV}
// substitution). Values are strings, as in Kafka Connect configs.
type ConfigEntry struct {
	Pos   Pos
	Key   string
	Value string
}

// Schema is a declared record type: field names and Arrow type names.
// With a schema, expressions are type-checked against real field types.
type Schema struct {
	Pos    Pos
	Fields []SchemaField
}

// SchemaField is one declared field.
type SchemaField struct {
	Pos  Pos
	Name string
	// Type is the canonical Arrow type name: utf8, int64, float64, bool,
	// timestamp, or any (nested JSON).
	Type string
}

// Expr is an expression in the expr language, compiled once at load time
// against the record type where it is used.
type Expr struct {
	Pos Pos
	Src string
	// Program is set by the checker when the expression compiles.
	Program *vm.Program
	// Type is the static result type (nil/interface when unknown).
	Type reflect.Type

	// at maps a rune offset inside Src to a file position (set by the
	// decoder; exact unless ${ENV} rewrote the text).
	at func(runeOff int) Pos
}

// PosAt is the file position of the rune at offset off in Src.
func (e *Expr) PosAt(off int) Pos {
	if e.at == nil {
		return e.Pos
	}
	return e.at(off)
}

// Step is one processing step. The concrete types are *FilterStep,
// *MapStep, *SetStep, *KeyByStep, *WindowStep, *JoinStep, *RouteStep and
// *DedupeStep.
type Step interface {
	// Kind is the step's name as written in YAML ("filter", "window", ...).
	Kind() string
	// At is where the step was written.
	At() Pos
}

// FilterStep keeps the records its boolean condition is true for.
type FilterStep struct {
	Pos  Pos
	Cond *Expr
}

// Field is a named expression: an output field of map or set.
type Field struct {
	Pos  Pos
	Name string
	Expr *Expr
}

// MapStep replaces each record with a new one made of exactly Fields.
type MapStep struct {
	Pos    Pos
	Fields []Field
}

// SetStep adds or overwrites Fields and keeps the rest of the record.
type SetStep struct {
	Pos    Pos
	Fields []Field
}

// KeyByStep re-keys the stream by an expression (a repartition, as
// selectKey + groupByKey in Kafka Streams).
type KeyByStep struct {
	Pos Pos
	Key *Expr
}

// Window types and emit modes.
const (
	Tumbling = "tumbling"
	Hopping  = "hopping"
	Sliding  = "sliding"
	Session  = "session"

	EmitOnUpdate = "on_update"
	EmitOnClose  = "on_close"
)

// WindowStep aggregates records per key and window.
type WindowStep struct {
	Pos     Pos
	Type    string
	Size    time.Duration // tumbling, hopping, sliding
	Advance time.Duration // hopping
	Gap     time.Duration // session
	Grace   time.Duration
	Emit    string
	Aggs    []*Aggregate
}

// Aggregate is one output field of a window: a function over an
// expression, e.g. avg(temperature).
type Aggregate struct {
	Pos  Pos
	Name string
	Func string
	Arg  *Expr // nil for count()
	// Param is the function's constant parameter: the percentile (0..100)
	// for percentile().
	Param float64
}

// Join types.
const (
	InnerJoin = "inner"
	LeftJoin  = "left"
	OuterJoin = "outer"
)

// JoinStep joins the stream with another source: a table (stream–table
// join on the key) or a stream (windowed stream–stream join: records whose
// times are at most Within apart).
type JoinStep struct {
	Pos    Pos
	With   Ref
	Type   string
	Within time.Duration
	Grace  time.Duration
	// On re-keys the left side before the join; nil joins on the current
	// key.
	On *Expr
	// As is the field the matching right-hand record is stored in.
	As string

	right *Source
}

// Right is the source the join reads (set by Check).
func (s *JoinStep) Right() *Source { return s.right }

// RouteStep sends each record down the first branch whose condition holds.
type RouteStep struct {
	Pos      Pos
	Branches []*Branch
}

// Branch is one arm of a route: a condition (nil for the default arm),
// optional steps of its own, and the sinks it ends in.
type Branch struct {
	Pos   Pos
	Name  string
	When  *Expr
	Steps []Step
	To    []Ref
}

// DedupeStep drops a record when another with the same key was seen
// within the span.
type DedupeStep struct {
	Pos    Pos
	Key    *Expr // nil: the record key
	Within time.Duration
}

func (s *FilterStep) Kind() string { return "filter" }
func (s *MapStep) Kind() string    { return "map" }
func (s *SetStep) Kind() string    { return "set" }
func (s *KeyByStep) Kind() string  { return "key_by" }
func (s *WindowStep) Kind() string { return "window" }
func (s *JoinStep) Kind() string   { return "join" }
func (s *RouteStep) Kind() string  { return "route" }
func (s *DedupeStep) Kind() string { return "dedupe" }

func (s *FilterStep) At() Pos { return s.Pos }
func (s *MapStep) At() Pos    { return s.Pos }
func (s *SetStep) At() Pos    { return s.Pos }
func (s *KeyByStep) At() Pos  { return s.Pos }
func (s *WindowStep) At() Pos { return s.Pos }
func (s *JoinStep) At() Pos   { return s.Pos }
func (s *RouteStep) At() Pos  { return s.Pos }
func (s *DedupeStep) At() Pos { return s.Pos }
