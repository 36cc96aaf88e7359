// Package broker is Sluice's single-node Kafka broker: a TCP server that
// speaks the Kafka protocol (framing in log/wire, messages as franz-go kmsg
// types), keeps topics as partition logs in log/storage and consumer groups
// in log/group.
//
// # Connections
//
// Each connection has one reader goroutine and one writer goroutine. The
// reader decodes requests and runs quick handlers inline (Produce among them,
// so a connection's appends keep their order, as idempotent producers
// require); handlers that can block (long-poll Fetch, JoinGroup, SyncGroup)
// run in their own goroutine so the connection keeps reading. Responses leave
// in request order through a queue of futures; the writer flushes whenever it
// would otherwise wait. An oversized, malformed or unsupported request closes
// only its own connection, with a log line.
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
// OffsetFetch (v8 batched), OffsetDelete, DescribeConfigs, AlterConfigs,
// IncrementalAlterConfigs, DescribeCluster, DeleteRecords, DescribeLogDirs
// and DescribeProducers.
//
// Not served: transactions (transactional InitProducerId is refused),
// SASL/TLS, ACLs, quotas, KIP-848 consumer groups, replication.
//
// # Data directory
//
// Partition logs live where log/storage puts them
// (<data-dir>/<topic>-<partition>/). The broker's own state is in
// <data-dir>/meta/: topics.json (names, ids, partition counts, configs),
// cluster.json (cluster id) and producer-ids.json, each replaced atomically
// (temporary file, fsync, rename, fsync directory). Committed offsets and
// group metadata are records in the compacted __consumer_offsets topic.
package broker
