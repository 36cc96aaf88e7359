// Package worker runs connector tasks as Kafka clients (franz-go kgo/kadm),
// against the built-in log or any Kafka-protocol cluster, and serves a REST
// API shaped like Kafka Connect's.
//
// State lives in three internal compacted topics, so a worker can be killed
// and restarted without losing anything:
//
//   - the configs topic (default _sluice-connect-configs, one partition)
//     holds connector configs ("connector-<name>"), target states
//     ("target-state-<name>": STARTED or PAUSED) and restart requests; every
//     REST change is a record here, applied by the worker when it reads it
//     back, so the log is the source of truth;
//   - the offsets topic (_sluice-connect-offsets) holds source positions,
//     keyed by ["<connector>","<source partition>"];
//   - the status topic (_sluice-connect-status) holds connector and task
//     states for tooling.
//
// Sink tasks consume in the consumer group "connect-<name>" and commit only
// offsets the sink reported durable from Flush. Source tasks produce with
// acks=all and store positions (then call Source.Commit) only for records
// the log acknowledged. With Config.ExactlyOnceSourceSupport enabled
// (KIP-618) each source task instead writes its records and their
// positions in Kafka transactions, fencing earlier instances of itself by
// its transactional id; see source_txn.go. Retriable errors are retried with exponential
// backoff; errors.tolerance=all skips records a sink refuses and sends them
// to errors.deadletterqueue.topic.name with __connect.errors.* headers.
//
// Several workers may share the internal topics (give each its own
// WorkerID): every worker applies every config change; sink tasks split the
// topics' partitions through the consumer groups; a source task runs on one
// worker at a time, the holder of its lease (partition 0 of the configs topic
// in the group "connect-<name>-source-<task>"), and moves to another worker
// when its holder stops or dies (after a 10s session timeout). A worker
// reports a task it does not run from the status topic (state and worker_id
// as the holder wrote them); restart calls act on the tasks a worker runs.
package worker
