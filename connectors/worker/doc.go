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
// the log acknowledged. Retriable errors are retried with exponential
// backoff; errors.tolerance=all skips records a sink refuses and sends them
// to errors.deadletterqueue.topic.name with __connect.errors.* headers.
//
// Limitations: one worker per internal-topic set is the supported
// deployment. Several workers sharing the topics share the work of sink
// connectors through the consumer groups, but each would also run every
// source connector.
package worker
