// Package agg holds the accumulators of YAML window aggregates — count,
// sum, avg, min, max, first, last, an approximate distinct count (a
// HyperLogLog that is exact while small) and approximate percentiles (a
// DDSketch-style log histogram with 1% relative error, exact while small) —
// with a compact binary form for state stores and changelogs.
package agg
