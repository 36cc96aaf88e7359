// Package storage is the commit log's storage engine: one Log per
// partition, holding Kafka RecordBatch v2 bytes in segment files, and a
// Manager for every partition under a data directory. The broker
// (log/broker) builds on it; nothing outside log/ imports it.
//
// # On-disk format
//
// A partition is a directory <dataDir>/<topic>-<partition>/ holding:
//
//	00000000000000000000.log        segment: concatenated RecordBatch v2, exactly as
//	                                produced (compressed batches stay compressed), with
//	                                the base offset and partition leader epoch set by
//	                                the broker; the name is the first offset, 20 digits
//	00000000000000000000.index      sparse offset index: (offset - base u32, position u32),
//	                                one entry per index.interval.bytes of log
//	00000000000000000000.timeindex  sparse time index: (max timestamp so far i64,
//	                                offset - base u32); the last entry is the segment's
//	                                largest timestamp
//	00000000000000001234.snapshot   idempotent/transactional producer state as of
//	                                offset 1234 (written at each roll and on close)
//	leader-epoch-checkpoint         leader epochs and their start offsets (Kafka's format)
//	partition.checkpoint            recovery point, high watermark, log start offset,
//	                                cleaner point, with a CRC-32C
//	cleaner-swap                    present only while a compaction swap is in progress
//	.lock                           flock'd by the process that has the partition open
//
// All integers are big endian, as in Kafka. The .index and .timeindex
// layouts are Kafka's. A batch's CRC-32C (Castagnoli) covers attributes to
// the end of the batch, so assigning offsets rewrites only uncovered
// fields; LogAppendTime topics also set the timestamp-type bit and max
// timestamp, and the CRC is recomputed. Nothing on the append or read path
// decodes records (except appends to compacted topics, see Validation):
// validation uses the 61-byte header (lengths, magic, CRC, record count,
// offset span), and reads copy byte ranges of whole batches.
//
// # Durability model
//
// flush.messages=N fsyncs (fdatasync) the active segment once N records
// have been appended since the last fsync; with 1, Append returns only
// after its batch is on disk (and, for the first batch of a new segment,
// the segment's directory entry). flush.ms fsyncs from background
// maintenance. A roll does no fsync under the writer's lock, as in Kafka:
// it creates the new segment and hands the finished one to a goroutine
// owned by the Log (flush.go), which fsyncs its data, writes its index
// files and the producer snapshot taken at the roll, and fsyncs the
// directory; only then may the recovery point pass the segment. Until
// then the segment's indexes stay in memory, and retention, truncation,
// compaction and Close wait for (or skip) it. Metadata files are replaced
// atomically (write temporary, fsync, rename, fsync directory).
//
// The recovery point is the offset below which everything was fsynced. On
// open, segments wholly below the one holding the recovery point are
// trusted (their index files are sanity-checked and rebuilt if needed);
// everything from that segment on is re-validated batch by batch: frame,
// CRC, offsets increasing and inside the segment. At the first invalid or
// torn batch the segment is truncated and every later segment deleted,
// and a warning says what was cut. After a clean Close, which records the
// active segment's size in the checkpoint, the active segment is trusted
// from its index files instead, so a clean restart reads no segment data;
// opening clears that mark before anything is written. Reads check every
// batch's CRC again
// before serving it (Options.SkipReadVerify turns that off), so a batch
// damaged on disk after recovery is reported, never served.
//
// A failed write is undone by truncating back to the last batch boundary;
// a failed fsync, or a failed background flush, marks the log failed (it
// refuses writes with ErrLogFailed until reopened), because after a failed
// fsync the page cache can no longer be trusted.
//
// # Validation
//
// On a compacted topic (cleanup.policy=compact) Append also decodes the
// records of each produced batch (decompressing within
// Options.MaxDecompressedBytes) and refuses a record without a key with
// an InvalidRecordError naming it; the decoding checks the record count
// and offset deltas of compressed batches too. Other topics never decode
// records on append.
//
// Compaction writes its output as .cleaned files, fsyncs them, and then
// atomically writes the cleaner-swap manifest naming the segments they
// replace; recovery completes a swap whose manifest exists and discards
// .cleaned files whose manifest does not.
//
// # Concurrency
//
// One writer per Log (appends, rolls and maintenance serialize), any
// number of readers. Readers use an immutable snapshot of the segment
// list, read only below a segment's published size, and hold a reference
// on the file they read; they never take the writer's lock. Open file
// handles of closed segments live in an LRU shared by all partitions of a
// Manager, bounded by what Options.MaxOpenFiles leaves after the
// descriptors every open partition holds.
package storage
