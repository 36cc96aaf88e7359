package connectors

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
)

// Sink writes records to an external system. The worker consumes the
// connector's topics in the consumer group "connect-<name>" and calls Write,
// Flush and Close from a single goroutine.
type Sink interface {
	// Open starts the task. cfg has been validated against the plugin's Spec,
	// with defaults applied.
	Open(ctx context.Context, task TaskInfo, cfg Config) error
	// Write hands the sink a batch of records, in offset order within each
	// topic-partition. A sink may buffer them. A Retriable error makes the
	// worker call Write again with the same batch after a backoff, so writes
	// must be idempotent or the sink must remember what it already took. To
	// refuse individual records while accepting the rest, return
	// *RecordErrors.
	Write(ctx context.Context, batch []Record) error
	// Flush makes everything written so far durable (or as much as the sink
	// chooses) and returns the offsets that are safe to commit, like Kafka
	// Connect's preCommit. written holds the next offset after the last
	// record handed to Write per topic-partition; a sink that writes
	// synchronously flushes and returns written unchanged. A sink that
	// returns nil commits nothing this round.
	Flush(ctx context.Context, written Offsets) (Offsets, error)
	// Close releases resources. It is called once after the final Flush
	// and commit, even when Open or Write failed.
	Close(ctx context.Context) error
}

// BatchReuser is implemented by sinks whose Write keeps no reference to the
// batch slice, or to the Records in it, once it returns (it may keep the
// Key, Value and header bytes they point to, which are never reused). When
// ReuseBatches reports true the worker refills one slice for every Write
// instead of allocating a new one each time, which saves an allocation, its
// zeroing and garbage collection per batch; a sink that buffers records
// must copy them.
type BatchReuser interface {
	ReuseBatches() bool
}

// OffsetStore is implemented by sinks that store consumed offsets themselves,
// atomically with the data (an exactly-once PostgreSQL sink keeps them in a
// table written in the same transaction as the rows). When partitions are
// assigned the worker asks the sink where to start and seeks there, ignoring
// the consumer group's committed offsets for partitions the sink knows. The
// worker still commits Flush's offsets to the group, for monitoring lag.
type OffsetStore interface {
	// StoredOffsets returns the next offset to consume for each of the given
	// partitions the sink has stored; partitions it omits start from the
	// group's committed offset (or auto.offset.reset).
	StoredOffsets(ctx context.Context, partitions []TopicPartition) (Offsets, error)
}

// PartitionAware is implemented by sinks that keep per-partition state
// (open files, writers). The worker calls Assigned when partitions are
// assigned to the task and Revoked before they are taken away, after a final
// Write and Flush of everything consumed from them has been attempted.
type PartitionAware interface {
	Assigned(ctx context.Context, partitions []TopicPartition) error
	Revoked(ctx context.Context, partitions []TopicPartition) error
}

// ColumnBatch is a run of consecutive records from one topic-partition, with
// their values decoded into an Arrow record batch. Rows[i] of Columns is
// Records[i].Value; Records keep keys, headers, timestamps and offsets.
// Tombstones (nil values) are not included in Columns; they are delivered
// through Sink.Write.
type ColumnBatch struct {
	TopicPartition
	Columns arrow.Record
	Records []Record
}

// ColumnSink is implemented by sinks that write columns (Parquet). For such a
// sink the worker decodes record values (JSON objects, typed by the record's
// schema when present, inferred otherwise; see connectors/schema) into Arrow
// record batches and calls WriteColumns instead of Write. Records whose value
// cannot be decoded are handled by errors.tolerance like refused records.
// The worker releases Columns after WriteColumns returns; a sink that keeps
// it must Retain it.
type ColumnSink interface {
	Sink
	WriteColumns(ctx context.Context, batches []ColumnBatch) error
}
