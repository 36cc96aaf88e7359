package parquet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors"
)

// The benchmark compares the sink with parquet-go's own typed writer
// writing the same rows to a file with the same settings (snappy, one row
// group, fsync before close). Run it with:
//
//	go test -run '^$' -bench ParquetSinkVsRaw -benchtime 5x ./connectors/parquet
//
// Each iteration times three writers on the same 200,000 rows, rotating
// their order: parquet-go's typed writer (GenericWriter[struct], "struct"),
// its dynamic-schema writer given ready parquet.Row values ("rows"), and the
// sink given Arrow batches ("sink"; time-partitioned, fsync and rename
// included). It reports each one's rows/s (wall clock), the median of the
// per-iteration ratios sink/struct and sink/rows, and the same ratios of
// process CPU time (steadier on a busy machine).

const benchRows = 200_000
const benchBatch = 1000

type benchRow struct {
	ID      int64     `parquet:"id"`
	Device  string    `parquet:"device"`
	Site    string    `parquet:"site"`
	Temp    float64   `parquet:"temp"`
	Reading int32     `parquet:"reading"`
	OK      bool      `parquet:"ok"`
	At      time.Time `parquet:"at,timestamp(microsecond)"`
}

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "device", Type: arrow.BinaryTypes.String},
	{Name: "site", Type: arrow.BinaryTypes.String},
	{Name: "temp", Type: arrow.PrimitiveTypes.Float64},
	{Name: "reading", Type: arrow.PrimitiveTypes.Int32},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
}, nil)

func benchData() ([]benchRow, []connectors.ColumnBatch) {
	base := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]benchRow, benchRows)
	for i := range rows {
		rows[i] = benchRow{ID: int64(i), Device: fmt.Sprintf("device-%04d", i%5000), Site: fmt.Sprintf("site-%d", i%17),
			Temp: float64(i%400) / 10, Reading: int32(i * 7 % 100000), OK: i%3 != 0, At: base.Add(time.Duration(i) * time.Millisecond)}
	}
	tp := connectors.TopicPartition{Topic: "bench", Partition: 0}
	var batches []connectors.ColumnBatch
	for start := 0; start < benchRows; start += benchBatch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, benchSchema)
		recs := make([]connectors.Record, 0, benchBatch)
		for _, r := range rows[start : start+benchBatch] {
			b.Field(0).(*array.Int64Builder).Append(r.ID)
			b.Field(1).(*array.StringBuilder).Append(r.Device)
			b.Field(2).(*array.StringBuilder).Append(r.Site)
			b.Field(3).(*array.Float64Builder).Append(r.Temp)
			b.Field(4).(*array.Int32Builder).Append(r.Reading)
			b.Field(5).(*array.BooleanBuilder).Append(r.OK)
			b.Field(6).(*array.TimestampBuilder).Append(arrow.Timestamp(r.At.UnixMicro()))
			recs = append(recs, connectors.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: r.ID,
				Value: make([]byte, 100), Timestamp: r.At})
		}
		batches = append(batches, connectors.ColumnBatch{TopicPartition: tp, Columns: b.NewRecord(), Records: recs})
		b.Release()
	}
	return rows, batches
}

func writeRaw(b *testing.B, path string, rows []benchRow) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pq.NewGenericWriter[benchRow](f, pq.Compression(&pq.Snappy), pq.CreatedBy("sluice", "", ""))
	for start := 0; start < len(rows); start += benchBatch {
		if _, err := w.Write(rows[start : start+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func writeSink(b *testing.B, dir string, batches []connectors.ColumnBatch) {
	// Default partitioning (dt=/hour= by record time; the rows span 200s,
	// one directory) and one segment, so the sink writes one file as the
	// raw writers do.
	s := openSink(b, map[string]string{KeyPath: dir, KeyFlushSize: fmt.Sprint(benchRows), KeyRotateBytes: "1000000000000"})
	ctx := context.Background()
	if err := s.WriteColumns(ctx, batches); err != nil {
		b.Fatal(err)
	}
	// The segment is complete: commit it as the next record would.
	tp := batches[0].TopicPartition
	if st := s.parts[tp]; len(st.order) != 1 {
		b.Fatalf("sink wrote %d files; want 1", len(st.order))
	}
	if err := s.commitSegment(tp, s.parts[tp]); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkParquetSinkVsRaw(b *testing.B) {
	rows, batches := benchData()
	pqRows := benchPQRows(rows)
	dir := b.TempDir()
	writers := []struct {
		name  string
		write func(i int)
	}{
		{"struct", func(i int) { writeRaw(b, filepath.Join(dir, fmt.Sprintf("raw-%d.parquet", i)), rows) }},
		{"rows", func(i int) { writeRawRows(b, filepath.Join(dir, fmt.Sprintf("rows-%d.parquet", i)), pqRows) }},
		{"sink", func(i int) { writeSink(b, filepath.Join(dir, fmt.Sprintf("sink-%d", i)), batches) }},
	}
	wall := make([]time.Duration, len(writers))
	cpu := make([]time.Duration, len(writers))
	ratios := make([][]float64, 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var w, c [3]time.Duration
		// Rotate the order so that none always pays for another's garbage.
		for k := range writers {
			j := (k + i) % len(writers)
			runtime.GC()
			w0, c0 := time.Now(), cpuTime()
			writers[j].write(i)
			w[j], c[j] = time.Since(w0), cpuTime()-c0
		}
		for j := range writers {
			wall[j] += w[j]
			cpu[j] += c[j]
		}
		ratios[0] = append(ratios[0], w[0].Seconds()/w[2].Seconds())
		ratios[1] = append(ratios[1], w[1].Seconds()/w[2].Seconds())
	}
	b.StopTimer()
	n := float64(benchRows * b.N)
	b.ReportMetric(n/wall[0].Seconds(), "struct_rows/s")
	b.ReportMetric(n/wall[1].Seconds(), "rows_rows/s")
	b.ReportMetric(n/wall[2].Seconds(), "sink_rows/s")
	for k, name := range []string{"struct", "rows"} {
		sort.Float64s(ratios[k])
		b.ReportMetric(ratios[k][len(ratios[k])/2], "sink/"+name+"_median")
		b.ReportMetric(cpu[k].Seconds()/cpu[2].Seconds(), "sink/"+name+"_cpu")
	}
}

// benchPQRows is the same data as parquet.Row values, for the dynamic
// (schema known at run time) writer.
func benchPQRows(rows []benchRow) []pq.Row {
	schema := pq.SchemaOf(benchRow{})
	out := make([]pq.Row, len(rows))
	for i := range rows {
		out[i] = schema.Deconstruct(nil, &rows[i])
	}
	return out
}

func writeRawRows(b *testing.B, path string, rows []pq.Row) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pq.NewGenericWriter[any](f, pq.SchemaOf(benchRow{}), pq.Compression(&pq.Snappy), pq.CreatedBy("sluice", "", ""))
	for start := 0; start < len(rows); start += benchBatch {
		if _, err := w.WriteRows(rows[start : start+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// cpuTime is the process's user+system CPU time: less disturbed than wall
// time by other processes on a shared machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSinkOnly measures the sink alone (rows/s), for profiling.
func BenchmarkSinkOnly(b *testing.B) {
	_, batches := benchData()
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeSink(b, filepath.Join(dir, fmt.Sprint(i)), batches)
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRawOnly measures parquet-go's typed writer alone, for profiling.
func BenchmarkRawOnly(b *testing.B) {
	rows, _ := benchData()
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeRaw(b, filepath.Join(dir, fmt.Sprint(i)), rows)
	}
	b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
