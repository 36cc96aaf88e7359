// Package storage is the commit log's storage engine: one Log per
// partition, record batches stored as Kafka RecordBatch v2 bytes in segment
// files, with sparse offset and time indexes, retention, compaction,
// idempotent-producer state, a leader-epoch cache and crash recovery.
// (The on-disk format and durability model are described in detail below as
// they are implemented.)
package storage
