// Package log is Sluice's commit log: the partitioned, replicated log that
// speaks the Kafka wire protocol.
//
// Its subpackages hold the storage engine (storage), the protocol server and
// broker (broker, wire), and the consumer-group coordinator (group).
// Everything outside log/ talks to it only through the Kafka protocol, so the
// engine, connectors and pipelines run unchanged against Apache Kafka or
// Redpanda.
package log
