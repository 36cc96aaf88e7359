// Package broker is Sluice's single-node Kafka broker: a TCP server that
// speaks the Kafka protocol (framing in log/wire, messages as franz-go kmsg
// types), keeps topics as partition logs in log/storage and consumer groups
// in log/group.
//
// Each connection has one reader goroutine and one writer goroutine. The
// reader decodes requests and runs quick handlers inline (Produce among them,
// so a connection's appends keep their order, as idempotent producers
// require); handlers that can block (long-poll Fetch, JoinGroup, SyncGroup)
// run in their own goroutine so the connection keeps reading. Responses leave
// in request order through a queue of futures.
package broker
