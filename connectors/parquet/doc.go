// Package parquet holds the Parquet connectors: a sink that writes topics
// to time-partitioned Parquet files from Arrow record batches, and a source
// that reads Parquet files into a topic, row by row, as JSON with an Arrow
// schema. Both use github.com/parquet-go/parquet-go.
//
// The sink's promise is that a crash between writing files and committing
// offsets leaves no duplicate rows: files are named by their first offset
// and cut at points that depend only on the records, so replaying from the
// last committed offset rewrites the same files in place (see Sink).
//
// The sink writes columns, not rows. A top-level column that is not a
// list, a struct or a dictionary is read straight from its Arrow buffers as
// a slice of its Parquet physical type; a required one goes into
// parquet-go's column buffer in one typed call per chunk of rows, an
// optional one as values built in one tight loop with definition levels
// from the validity bitmap (encode_flat.go, columnbuf.go). Nested columns
// are encoded value by value (encode.go). Every path writes the same bytes;
// TestColumnarMatchesPerValue checks it over random batches.
//
// Throughput against parquet-go's own writers on the same rows and
// settings:
//
//	go test -run '^$' -bench ParquetSinkVsRaw -benchtime 10x ./connectors/parquet
package parquet
