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
// The coordinator speaks kmsg: each method takes a decoded request and returns
// the response body, leaving framing and versions to the broker.
package group
