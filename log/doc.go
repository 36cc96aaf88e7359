// Package log is Sluice's commit log: the partitioned log that speaks the
// Kafka wire protocol.
//
// Its subpackages hold the storage engine (storage), the protocol framing
// (wire), the broker and its request handlers (broker), the consumer-group
// coordinator (group) and the transaction coordinator (txn). Everything
// outside log/ talks to it only through the Kafka protocol, so the engine,
// connectors and pipelines run unchanged against Apache Kafka or Redpanda.
package log
