// Package operators is the typed Go DSL for stream processing: streams,
// tables, windows, aggregations and joins. Building a topology does no I/O;
// package engine runs it.
package operators
