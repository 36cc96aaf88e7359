// Package wire is the Kafka protocol's framing layer for the broker: it reads
// size-prefixed request frames with a hard size limit checked before any
// allocation, parses request headers (v0–v2, including the flexible-version
// tagged fields of KIP-482), decodes request bodies into franz-go's generated
// kmsg types, and encodes responses with the right response header.
//
// Nothing here knows what a request means; that is the broker's job. The
// package exists so that every byte that arrives from the network passes
// through one small, fuzzed surface.
package wire
