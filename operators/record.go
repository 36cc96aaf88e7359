package operators

import (
	"fmt"
	"time"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one record flowing through a topology.
//
// Topic, Partition and Offset describe the input record this one was derived
// from (they survive map and filter, like Kafka Streams' record metadata);
// records created by punctuators carry the zero values.
type Record[K, V any] struct {
	Key   K
	Value V
	// Timestamp is the event time in milliseconds since the Unix epoch,
	// the unit Kafka uses.
	Timestamp int64
	Headers   []Header
	// Tombstone marks a record whose value is absent (a Kafka null value):
	// a delete for tables and compacted topics. Value is then the zero V.
	Tombstone bool

	Topic     string
	Partition int32
	Offset    int64
}

// Time returns Timestamp as a time.Time.
func (r Record[K, V]) Time() time.Time { return time.UnixMilli(r.Timestamp) }

// Millis converts a time to the millisecond timestamps records carry.
func Millis(t time.Time) int64 { return t.UnixMilli() }

// TaskID names a task: one partition of one sub-topology.
type TaskID struct {
	SubTopology int32
	Partition   int32
}

func (id TaskID) String() string { return fmt.Sprintf("%d_%d", id.SubTopology, id.Partition) }

// Windowed is a key qualified by the time window it was aggregated in.
// Start is inclusive and End exclusive, in milliseconds, except for session
// and sliding windows whose End is the (inclusive) timestamp of their last
// record, as in Kafka Streams.
type Windowed[K any] struct {
	Key   K
	Start int64
	End   int64
}

func (w Windowed[K]) String() string {
	return fmt.Sprintf("%v@[%s,%s]", w.Key, time.UnixMilli(w.Start).UTC().Format(time.RFC3339Nano), time.UnixMilli(w.End).UTC().Format(time.RFC3339Nano))
}
