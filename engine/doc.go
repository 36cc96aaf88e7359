// Package engine runs stream-processing topologies built with package
// operators against Kafka-protocol brokers (Sluice's own log, or Kafka,
// Redpanda, ...), as a client through franz-go.
//
//	app, err := engine.New(topo, engine.Config{ApplicationID: "wordcount", Brokers: []string{"127.0.0.1:9092"}})
//	err = app.Run(ctx) // until ctx is cancelled
//
// # Tasks and instances
//
// A topology is split into sub-topologies at repartition topics; each
// sub-topology has one task per partition of its source topics. Every
// instance (process) with the same ApplicationID joins one consumer group,
// whose assignor (protocol "sluice-streams") hands out whole tasks: all
// source partitions of a task go to one instance, so co-partitioned inputs
// stay together. Tasks stay where they are across rebalances when they can,
// then go where their state is on disk, then to the least loaded instance.
// Starting a second instance moves half the tasks to it; stopping or losing
// one moves its tasks to the others.
//
// # State and recovery
//
// Each store lives in a Pebble database under StateDir/<app-id>/<task>/ (or
// in memory) and is backed by a compacted changelog topic
// "<app-id>-<store>-changelog" (compact,delete with retention for windowed
// stores). Internal topics are created at startup with kadm. On
// assignment a task restores each store from the changelog, starting after
// the offset its local checkpoint records, so a task that comes back to the
// same disk replays only what it missed.
//
// # Commits
//
// Every CommitInterval, on revocation and on shutdown, the engine flushes
// store caches into the stores and changelogs, waits for every produced
// record (outputs and changelogs) to be acknowledged, syncs the stores and
// writes their checkpoints, and only then commits the input offsets. A
// crash replays input since the last commit: at-least-once, never a lost
// update.
//
// Each commit carries the task's stream time in the offset metadata (Kafka
// Streams' encoding; DecodeStreamTime reads it), and a task resumes from
// the stream time of the offsets it resumes from, wherever it runs next:
// windows that had closed stay closed (replayed records for them are late
// and dropped, and nothing is emitted for them again) and stream-time
// punctuations and TTLs carry on where they were. Windows still open at
// the last commit can count replayed records twice; that, and repartition
// topics holding an upstream task's replayed output a second time, is what
// at-least-once means.
//
// Records a task reads from several partitions are processed in timestamp
// order (see MaxTaskIdle). Input that cannot be decoded is counted and
// skipped, sent to DeadLetterTopic with headers saying where it came from
// and why, or stops the application (FailOnBadRecord).
//
// # Metrics
//
// Prometheus metrics (sluice_engine_*) per task: records in and out, late
// records dropped, stream time, consumer lag per partition, restore
// progress per store;
// and per instance: assigned tasks, commits and their latency, rebalances.
package engine
