// Package compat proves that Kafka clients written by others work against a
// real `sluice serve` process: franz-go (kgo + kadm), IBM/sarama, goka,
// kcat and confluent-kafka for Python. Each creates a topic, produces keyed
// records, consumes them in a consumer group of two members, commits, and
// after a broker restart resumes from the committed offsets with nothing
// lost or repeated. The tests are in the _test.go files; run them with
// `go test ./tests/compat/`.
package compat
