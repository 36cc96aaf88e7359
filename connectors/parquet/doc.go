// Package parquet holds the Parquet connectors: a sink that writes topics
// to time-partitioned Parquet files from Arrow record batches, and a source
// that reads Parquet files into a topic, row by row, as JSON with an Arrow
// schema. Both use github.com/parquet-go/parquet-go.
//
// The sink's promise is that a crash between writing files and committing
// offsets leaves no duplicate rows: files are named by their first offset
// and cut at points that depend only on the records, so replaying from the
// last committed offset rewrites the same files in place (see Sink).
package parquet
