// Package group is the broker's consumer-group coordinator: Kafka's classic
// rebalance protocol (JoinGroup/SyncGroup barriers, heartbeats, session and
// rebalance timeouts, generations, KIP-394 member ids, KIP-345 static
// membership) and committed offsets.
//
// Durable state is written as Kafka's own record formats (kmsg.OffsetCommitKey
// and Value, kmsg.GroupMetadataKey and Value) to partitions of the compacted
// internal topic __consumer_offsets through the PartitionLog interface, and
// replayed from there on start, so offsets and group membership survive a
// restart exactly as they do in Kafka.
//
// Transactional offset commits (TxnOffsetCommit) are written as the
// producer's transactional batch and held as pending, invisible to
// OffsetFetch (UNSTABLE_OFFSET_COMMIT for KIP-447 consumers), until the
// transaction coordinator's marker lands in the partition: CompleteTxn
// applies them on commit and drops them on abort, and replay does the same
// from the log.
//
// The coordinator speaks kmsg: each method takes a decoded request and returns
// the response body, leaving framing and versions to the broker.
package group
