// Package txn is the broker's transaction coordinator: Kafka's transaction
// protocol (KIP-98) as a single node runs it, with the KIP-360 and KIP-588
// epoch-bump recoveries and the KIP-447 producer-per-thread model that
// franz-go, librdkafka and the Java client use for exactly-once processing.
//
// # State
//
// Each transactional.id maps to a producer id and epoch, a timeout, a state
// (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
// CompleteAbort; Dead is never written, an expired id gets a tombstone) and
// the partitions of its current transaction. Every transition is first
// appended as a record to the compacted internal topic __transaction_state,
// in Kafka's own formats (kmsg.TxnMetadataKey and kmsg.TxnMetadataValue v1;
// the previous epoch, which Kafka keeps only in memory, rides in tagged
// field 1000 so that KIP-360 retries survive a restart), and only then
// applied in memory. Load replays the topic on start.
//
// # Ending a transaction
//
// EndTxn writes PrepareCommit (or PrepareAbort): from that record on the
// outcome is decided. The coordinator then appends a transaction marker (a
// control batch, through the Broker interface, straight into the partition
// logs: a single node needs no WriteTxnMarkers requests) to every partition
// of the transaction, and finally writes CompleteCommit (CompleteAbort).
// The client is answered once the prepare record is durable; if a marker
// cannot be written (an offline partition), the transaction stays in its
// prepare state, requests for it answer CONCURRENT_TRANSACTIONS, and Run
// retries. After a crash, Load finds prepare states and completes them
// (markers are idempotent: a second marker for a finished transaction
// changes nothing).
//
// # Fencing
//
// InitProducerId bumps the epoch; a transaction still Ongoing is first
// aborted with a bumped epoch, so a zombie's later produce, AddPartitions,
// TxnOffsetCommit or EndTxn fails with PRODUCER_FENCED (or
// INVALID_PRODUCER_EPOCH on requests too old to know it). A transaction
// older than its timeout (transaction.timeout.ms, capped by
// transaction.max.timeout.ms) is aborted the same way by Run; the producer
// whose transaction timed out may resume with InitProducerId carrying its
// old id and epoch (KIP-588), any other one stays fenced.
//
// # Produce verification
//
// Transactional batches are appended only to partitions that were added to
// their producer's Ongoing transaction at the producer's current epoch:
// the broker calls VerifyAppend under the partition's append lock, and a
// transition out of Ongoing is visible to VerifyAppend before any marker is
// written, so no transactional batch can land after its transaction's
// marker (no "hanging" transactions).
//
// # Clients
//
// Nothing special is needed beyond what Kafka needs. With franz-go:
// kgo.TransactionalID on the producing client (idempotence is implied),
// kgo.FetchIsolationLevel(kgo.ReadCommitted()) on consumers of
// transactional output, and kgo.GroupTransactSession for
// consume-transform-produce. Two client behaviours to know: franz-go
// commits whatever was produced, so a caller must watch each record's
// promise and end with TryAbort if one failed (Flush does not report
// them); and a transactional client initializes its producer id lazily, so
// a restarted instance should call Begin and End(TryAbort) once before it
// polls, which fences its predecessor and aborts what it left open instead
// of waiting out the transaction timeout while the group's offsets are
// unstable. kgo.InstanceID (static membership) lets the restarted instance
// take over its predecessor's partitions without a rebalance.
//
// # Testing hook
//
// The environment variable SLUICE_TXN_FAILPOINT=hang-after-prepare makes
// EndTxn stop after its prepare record is durable, holding the transaction,
// until the broker shuts down: crash tests SIGKILL the broker there to prove
// that recovery completes the transaction. Nothing else reads it.
package txn
