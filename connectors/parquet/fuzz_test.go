package parquet

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// FuzzSourceFile feeds arbitrary bytes to the source as a Parquet file: it
// must skip or read it, never crash, and every row it emits must be valid
// JSON. Seeds are real files from parquet-go's writer and from the sink.
func FuzzSourceFile(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.parquet")
	writePayments(f, seed, 0, 20)
	if b, err := os.ReadFile(seed); err == nil {
		f.Add(b)
	}
	sinkDir := filepath.Join(dir, "sink")
	sink := openSink(f, map[string]string{KeyPath: sinkDir, KeyPartitionBy: "none", KeyFlushSize: "3"})
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	rec := recordsFromJSON(f, allTypes,
		`{"i8":1,"i16":1,"i32":1,"i64":1,"u8":1,"u64":1,"f32":1,"f64":1,"b":true,"s":"x","bin":"AA==","d9":"1.00","d18":"1.0000","d38":"-1.5",`+
			`"ts":"2024-03-05T10:11:12Z","local":"2024-03-05T00:00:00","day":"2024-03-05","tod":"00:00:00","tags":["a"],"nested":{"a":1,"xs":[1]}}`)
	b := columnBatch(tp, 0, rec, func(int) time.Time { return time.Unix(0, 0) })
	if err := sink.WriteColumns(context.Background(), []connectors.ColumnBatch{b, simpleBatch(f, tp, 1, 3, time.Unix(0, 0))}); err != nil {
		f.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(sinkDir, "t", "*.parquet"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))

	src := openSource(f, map[string]string{KeySourcePath: "unused", KeySourceTopic: "t", KeyBatchSize: "64"}, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		// The decoding path of Poll, on bytes instead of a file.
		of, err := src.openReader(bytes.NewReader(data), int64(len(data)), 0)
		if err != nil || of == nil {
			return // refused (or empty): fine, as long as it did not crash
		}
		defer of.close()
		for i := 0; i < 100 && of.next < of.total; i++ {
			recs, err := src.readRows(of)
			for _, r := range recs {
				if !json.Valid(r.Value) {
					t.Fatalf("invalid JSON row: %q", r.Value)
				}
			}
			if err != nil || len(recs) == 0 {
				return
			}
		}
	})
}
