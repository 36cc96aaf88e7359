// Package operators is the typed Go DSL for stream processing: streams,
// tables, windows, aggregations and joins, in the manner of Kafka Streams.
// Building a topology does no I/O and never panics on a bad graph: problems
// are collected and returned by Builder.Build. Package engine runs a
// topology against Kafka-protocol brokers; package engine/testdriver runs
// it in-process for unit tests.
//
// A program:
//
//	b := operators.NewBuilder()
//	lines := operators.StreamOf(b, "lines", operators.String, operators.String)
//	words := operators.FlatMapValues(lines, split).WithSerdes(operators.String, operators.String)
//	counts := operators.GroupBy(words, byWord, operators.String).Count()
//	counts.ToStream().To("counts")
//	topo, err := b.Build()
//
// # Types and serdes
//
// Stream[K, V] and Table[K, V] are typed by Go generics. Serde[T] encodes
// values for topics and stores: Bytes, String, Int64, Float64 (Kafka's
// encodings), JSON[T](), WindowedSerde, or your own (SerdeFuncs).
// Operations that change types cannot know the new serdes; set them with
// Stream.WithSerdes before writing, grouping or joining. Operations that
// change types or keys are functions (Map, MapValues, SelectKey, FlatMap,
// GroupBy, Aggregate, Join, ...) because Go methods cannot add type
// parameters; the others are methods (Filter, Peek, Merge, Branch, To,
// GroupByKey, ToTable, ...).
//
// # Partitioning
//
// Records with equal keys must meet in one task to be aggregated or joined.
// A stream whose key may have changed (Map, SelectKey, FlatMap, Process) is
// repartitioned through an internal topic "<app-id>-<name>-repartition"
// before grouping or joining; ProcessValues and MapValues keep the
// partitioning. Sub-topologies are split at repartition topics.
//
// # Time and windows
//
// Event time is the record timestamp, or what a TimestampFrom extractor
// returns. Windowed operations keep an observed stream time (the largest
// timestamp seen) and close a window when it passes the window's end plus
// grace; records for closed windows are dropped (Task.LateDropped). Windows:
// Tumbling, Hopping, Sliding and Session; results are emitted on every
// update or, with EmitOnClose, once per window when it closes.
//
// A table regrouped by another key (GroupTableBy, Kafka Streams'
// KGroupedTable) aggregates with an adder and a subtractor (Count, Reduce,
// AggregateTable): a row that changes or moves to another group is taken
// out of the old group's aggregate and put into the new one. Aggregators
// that depend on event time rather than arrival order take each record's
// timestamp (AggregateTimed, AggregateWindowedTimed, AggregateSessionsTimed).
//
// # Joins
//
// Stream–stream joins (Join, LeftJoin, OuterJoin) pair records within
// JoinWindows; unmatched records of left and outer joins are emitted once
// their window has closed. Stream–table joins (JoinTable, LeftJoinTable)
// look up the table's current row. Table–table joins (JoinTables,
// LeftJoinTables, OuterJoinTables) are kept up to date as either side
// changes, and foreign-key joins (JoinForeignKey, LeftJoinForeignKey) join
// tables partitioned by different keys. Joined inputs must be
// co-partitioned; the engine checks it.
//
// # State
//
// Stateful operations keep state in stores named after the operation (or
// Materialized names): key-value stores, and time-segmented stores for
// windows and join buffers. Writes are cached per task and written through
// on Task.Flush (the engine's commit), so a hot key costs one store write
// and one changelog record per commit. TTL bounds key-value stores by
// stream time. Processors written with the processor API (Process,
// ProcessValues, Processor, ProcessorContext) reach their stores with
// KeyValueStoreDef.From and schedule punctuations on stream or wall-clock
// time.
//
// # Runtime surface
//
// Topology.SubTopologies, Topology.NewTask and Task are the surface the
// engine and the test driver run topologies through: a Task takes raw
// InputRecords and emits raw OutputRecords, with stores opened through
// TaskConfig.OpenStore. Ordinary programs do not use them.
package operators
