// Package compile turns a checked YAML pipeline into the same things a Go
// program would build: an operators.Topology (run by the engine, or by the
// test driver), the topics it needs, and the connector configs the runner
// hands to the connect worker. There is no second engine: every step maps
// onto the operators DSL.
//
// Records are map[string]any values decoded once per record when they
// enter a sub-topology (from a source or a repartition topic). Consecutive
// stateless steps (filter, map, set) are fused into one operator that runs
// their expression programs — compiled once, at load time — on a pooled
// expr VM, so a record is neither re-decoded nor re-parsed between steps.
package compile
