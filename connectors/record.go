package connectors

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
)

// Record is one message moving through a connector. Sources fill Topic (or
// leave it empty to use the connector's configured topic), Key, Value,
// Headers, Timestamp, Schema and Position; the worker fills Partition and
// Offset once the record is in the log. Sinks receive records with every
// log field set.
type Record struct {
	Topic     string
	Partition int32
	// Offset is the record's offset in its partition (sinks only).
	Offset    int64
	Key       []byte
	Value     []byte // nil is a tombstone
	Headers   []Header
	Timestamp time.Time
	// Schema is the Arrow schema of Value when one is known (nil when the
	// value is schemaless). Values with a schema are JSON objects encoded as
	// described in connectors/schema; the worker carries the schema between
	// connectors in the SchemaHeader record header.
	Schema *arrow.Schema
	// Position is where this record came from in the source system (sources
	// only). The worker stores the latest acknowledged position per
	// Position.Partition and hands it back to Source.Open after a restart.
	Position Position
	// Transaction ends the worker's open transaction at this record, for
	// sources that define transaction boundaries (see TransactionDefiner;
	// transaction.boundary=connector on a worker with exactly-once
	// enabled). It is ignored otherwise.
	Transaction TransactionEnd
}

// TransactionEnd says how a source-defined transaction ends.
type TransactionEnd uint8

const (
	// NoTransactionEnd leaves the transaction open (the default).
	NoTransactionEnd TransactionEnd = iota
	// CommitTransaction commits the transaction with this record as its
	// last: the records and their positions become visible together.
	CommitTransaction
	// AbortTransaction aborts the transaction, this record included: its
	// records are discarded and their positions are not stored, so the
	// source is not told (Commit) about them. The task goes on polling,
	// as with Kafka Connect's TransactionContext.abortTransaction.
	AbortTransaction
)

// Header is a record header. Keys may repeat, as in Kafka.
type Header struct {
	Key   string
	Value []byte
}

// SchemaHeader is the record header that carries a record's Arrow schema (the
// JSON form from schema.MarshalSchema) between connectors through a topic.
const SchemaHeader = "sluice.value.schema"

// Header returns the value of the last header named key and whether one
// exists.
func (r *Record) Header(key string) ([]byte, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return r.Headers[i].Value, true
		}
	}
	return nil, false
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// Offsets maps a topic-partition to the next offset to consume: the Kafka
// committed-offset convention (last processed offset + 1).
type Offsets map[TopicPartition]int64

// Position locates a record in the source system. Partition is the source's
// own partition key (a file identity, a replication slot, a table) and Offset
// is an opaque JSON document the source understands (a byte offset, an LSN,
// a cursor). The worker keeps the latest Offset per (connector, Partition) in
// its offsets topic.
type Position struct {
	Partition string
	Offset    json.RawMessage
}

// IsZero reports whether the position is unset.
func (p Position) IsZero() bool { return p.Partition == "" && len(p.Offset) == 0 }

// Positions is the last committed offset per source partition key, as handed
// to Source.Open.
type Positions map[string]json.RawMessage

// Decode unmarshals the committed offset for partition into v. It reports
// false (and leaves v untouched) when nothing was committed for partition.
func (p Positions) Decode(partition string, v any) (bool, error) {
	raw, ok := p[partition]
	if !ok || len(raw) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("source position %q: %w", partition, err)
	}
	return true, nil
}

// NewPosition builds a Position whose offset is v encoded as JSON.
func NewPosition(partition string, v any) (Position, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Position{}, fmt.Errorf("source position %q: %w", partition, err)
	}
	return Position{Partition: partition, Offset: b}, nil
}
