// Package record holds the value type YAML pipelines process — a JSON
// object decoded once into a map[string]any that every step of a
// sub-topology shares — and its codec: a JSON decoder and encoder made for
// flat event records, with optional coercion to a declared schema.
//
// The decoder is hand-written because it is the hot path of every pipeline:
// encoding/json decodes objects into maps several times slower (reflection,
// one allocation per key), and the engine's per-record budget is a few
// hundred nanoseconds. It is differentially fuzzed against encoding/json.
package record
