// Package broker is Sluice's single-node Kafka broker: a TCP server that
// speaks the Kafka protocol (framing in log/wire, messages as franz-go kmsg
// types), keeps topics as partition logs in log/storage and consumer groups
// in log/group.
//
// # Connections
//
// Each connection has one reader goroutine, reading through a buffer. The
// reader decodes requests and runs quick handlers inline (Produce among them,
// so a connection's appends keep their order, as idempotent producers
// require); handlers that can block (long-poll Fetch, JoinGroup, SyncGroup)
// run in their own goroutine so the connection keeps reading. Responses leave
// in request order (responder.go): whichever goroutine completes the oldest
// outstanding request writes it and the completed ones behind it, so no
// response waits for a writer goroutine to be scheduled. The reader holds
// its flush while whole pipelined requests are buffered and flushes before
// it would block; a long-poll Fetch flushes when it completes. An oversized,
// malformed or unsupported request closes only its own connection, with a
// log line.
//
// # APIs
//
// See the apis table in apis.go for versions. Served: ApiVersions,
// Metadata, CreateTopics, DeleteTopics, CreatePartitions, Produce (acks
// 0/1/all; a single node is the whole ISR), Fetch (long poll, KIP-74 sizes,
// KIP-227 sessions, topic ids from v13), ListOffsets (earliest, latest, by
// timestamp, max timestamp), OffsetForLeaderEpoch, InitProducerId
// (idempotent producers; ids reserved on disk in blocks so they are never
// reused), FindCoordinator (v4 batched), the classic group APIs, OffsetCommit,
// OffsetFetch (v8 batched, KIP-447 require_stable), OffsetDelete,
// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, DescribeCluster,
// DeleteRecords, DescribeLogDirs, DescribeProducers, and transactions:
// FindCoordinator for transactional ids, transactional InitProducerId,
// AddPartitionsToTxn (v0–v3), AddOffsetsToTxn, EndTxn (v0–v4),
// TxnOffsetCommit (v0–v4), DescribeTransactions and ListTransactions.
//
// # Transactions
//
// The transaction coordinator is log/txn; its state is the compacted
// internal topic __transaction_state. It writes transaction markers
// straight into partition logs (no WriteTxnMarkers on a single node) and,
// for __consumer_offsets partitions, tells the group coordinator to apply
// or drop the transaction's offsets. A transactional batch is appended only
// to a partition of its producer's Ongoing transaction at the current
// epoch, checked under the partition's append lock. Fetch with
// isolation_level=read_committed reads up to the last stable offset and
// returns the aborted transactions overlapping what it returns;
// ListOffsets read_committed answers the last stable offset as the end.
// This is KIP-98 with explicit AddPartitionsToTxn: the KIP-890 part 2
// versions (Produce v12, EndTxn v5, TxnOffsetCommit v5) are not
// advertised, so clients use the classic protocol.
//
// Not served: SASL/TLS, ACLs, quotas, KIP-848 consumer groups,
// replication, WriteTxnMarkers.
//
// # Data directory
//
// Partition logs live where log/storage puts them
// (<data-dir>/<topic>-<partition>/). The broker's own state is in
// <data-dir>/meta/: topics.json (names, ids, partition counts, configs),
// cluster.json (cluster id) and producer-ids.json, each replaced atomically
// (temporary file, fsync, rename, fsync directory). Committed offsets and
// group metadata are records in the compacted __consumer_offsets topic,
// transaction state in __transaction_state.
package broker
