// Package connectors is the SDK that moves data between topics and the
// outside world. A Source emits records with a source Position and is told
// (Commit) once they are durably in the log; a Sink receives batches with
// their topic-partition offsets, writes them, and reports (Flush) which
// offsets are durable and safe to commit. The worker in connectors/worker
// runs both as Kafka clients, so the same connector runs against the built-in
// log and against any Kafka-protocol cluster.
//
// The semantics follow Kafka Connect's SourceTask and SinkTask, in Go:
//
//   - A connector declares its configuration once as a ConfigSpec. The spec
//     drives validation (per-field errors), defaults and documentation.
//   - A connector registers a Plugin (usually in an init function) and the
//     worker finds it by name through the registry.
//   - Errors wrapped with Retriable are retried by the worker with
//     exponential backoff; any other error fails the task. A sink refuses
//     individual records with RecordErrors, which the worker routes by
//     errors.tolerance (fail, or skip and send to a dead-letter topic).
//
// Built-in connectors live in subpackages and use this SDK exactly as a third
// party would.
package connectors
