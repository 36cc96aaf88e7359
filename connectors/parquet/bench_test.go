package parquet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// The benchmarks compare the sink with parquet-go writing the same rows to
// one file with the same settings: same schema, snappy, one row group of
// all the rows, fsync before close. Run them with:
//
//	go test -run '^$' -bench ParquetSinkVsRaw -benchtime 10x ./connectors/parquet
//
// Each iteration times three writers on the same 200,000 rows, rotating
// their order: parquet-go's typed writer (GenericWriter[struct], "struct"),
// its dynamic-schema writer given ready parquet.Row values ("rows"), and the
// sink given Arrow batches ("sink"; time-partitioned, temporary file, fsync,
// rename and directory fsync included). It reports each one's rows/s (wall
// clock), the median of the per-iteration ratios sink/struct and sink/rows
// (rows/s of the sink over rows/s of the other), and the same ratios of
// process CPU time (steadier on a busy machine). After timing, it checks
// that the three files hold one row group each, the same schema, snappy
// pages and the same rows.
//
// BenchmarkParquetSinkVsRaw uses required columns;
// BenchmarkParquetSinkVsRawNullable makes every column nullable (as schemas
// inferred from JSON are) with some nulls, and gives the typed writer
// pointer fields.

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

// benchRowNullable is benchRow with every column optional.
type benchRowNullable struct {
	ID      *int64     `parquet:"id"`
	Device  *string    `parquet:"device"`
	Site    *string    `parquet:"site"`
	Temp    *float64   `parquet:"temp"`
	Reading *int32     `parquet:"reading"`
	OK      *bool      `parquet:"ok"`
	At      *time.Time `parquet:"at,timestamp(microsecond)"`
}

func benchSchema(nullable bool) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64, Nullable: nullable},
		{Name: "device", Type: arrow.BinaryTypes.String, Nullable: nullable},
		{Name: "site", Type: arrow.BinaryTypes.String, Nullable: nullable},
		{Name: "temp", Type: arrow.PrimitiveTypes.Float64, Nullable: nullable},
		{Name: "reading", Type: arrow.PrimitiveTypes.Int32, Nullable: nullable},
		{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: nullable},
		{Name: "at", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, Nullable: nullable},
	}, nil)
}

var benchBase = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)

func benchRowAt(i int) benchRow {
	return benchRow{ID: int64(i), Device: fmt.Sprintf("device-%04d", i%5000), Site: fmt.Sprintf("site-%d", i%17),
		Temp: float64(i%400) / 10, Reading: int32(i * 7 % 100000), OK: i%3 != 0, At: benchBase.Add(time.Duration(i) * time.Millisecond)}
}

// benchNull reports whether column c of row i is null in the nullable
// variant: about 5% of the values of every column but id and at.
func benchNull(i, c int) bool {
	return c != 0 && c != 6 && (i*31+c*7)%20 == 0
}

func benchData() ([]benchRow, []connectors.ColumnBatch) {
	rows := make([]benchRow, benchRows)
	for i := range rows {
		rows[i] = benchRowAt(i)
	}
	return rows, benchBatches(rows, false)
}

func benchDataNullable() ([]benchRowNullable, []connectors.ColumnBatch) {
	rows := make([]benchRowNullable, benchRows)
	for i := range rows {
		r := benchRowAt(i)
		n := benchRowNullable{ID: &r.ID, Device: &r.Device, Site: &r.Site, Temp: &r.Temp, Reading: &r.Reading, OK: &r.OK, At: &r.At}
		ptrs := []any{&n.ID, &n.Device, &n.Site, &n.Temp, &n.Reading, &n.OK, &n.At}
		for c := range ptrs {
			if benchNull(i, c) {
				switch p := ptrs[c].(type) {
				case **string:
					*p = nil
				case **float64:
					*p = nil
				case **int32:
					*p = nil
				case **bool:
					*p = nil
				}
			}
		}
		rows[i] = n
	}
	plain := make([]benchRow, benchRows)
	for i := range plain {
		plain[i] = benchRowAt(i)
	}
	return rows, benchBatches(plain, true)
}

// benchBatches turns rows into Arrow batches of benchBatch rows, with nulls
// where benchNull says when nullable, and records of 100-byte values.
func benchBatches(rows []benchRow, nullable bool) []connectors.ColumnBatch {
	tp := connectors.TopicPartition{Topic: "bench", Partition: 0}
	s := benchSchema(nullable)
	var batches []connectors.ColumnBatch
	for start := 0; start < len(rows); start += benchBatch {
		b := array.NewRecordBuilder(memory.DefaultAllocator, s)
		recs := make([]connectors.Record, 0, benchBatch)
		for i, r := range rows[start : start+benchBatch] {
			row := start + i
			for c := range s.NumFields() {
				if nullable && benchNull(row, c) {
					b.Field(c).AppendNull()
					continue
				}
				switch c {
				case 0:
					b.Field(c).(*array.Int64Builder).Append(r.ID)
				case 1:
					b.Field(c).(*array.StringBuilder).Append(r.Device)
				case 2:
					b.Field(c).(*array.StringBuilder).Append(r.Site)
				case 3:
					b.Field(c).(*array.Float64Builder).Append(r.Temp)
				case 4:
					b.Field(c).(*array.Int32Builder).Append(r.Reading)
				case 5:
					b.Field(c).(*array.BooleanBuilder).Append(r.OK)
				case 6:
					b.Field(c).(*array.TimestampBuilder).Append(arrow.Timestamp(r.At.UnixMicro()))
				}
			}
			recs = append(recs, connectors.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: r.ID,
				Value: make([]byte, 100), Timestamp: r.At})
		}
		batches = append(batches, connectors.ColumnBatch{TopicPartition: tp, Columns: b.NewRecord(), Records: recs})
		b.Release()
	}
	return batches
}

// rawOptions are the parquet-go settings of the raw writers; the sink is
// configured to match (benchSinkConfig).
func rawOptions(extra ...pq.WriterOption) []pq.WriterOption {
	return append(extra, pq.Compression(&pq.Snappy), pq.CreatedBy("sluice", "", ""), pq.MaxRowsPerRowGroup(benchRows))
}

func benchSinkConfig(dir string) map[string]string {
	return map[string]string{
		KeyPath:          dir,
		KeyCompression:   "snappy",
		KeyRowGroupRows:  fmt.Sprint(benchRows),
		KeyRowGroupBytes: fmt.Sprint(int64(1) << 40),
		// One segment, so the sink writes one file as the raw writers do.
		KeyFlushSize:   fmt.Sprint(benchRows),
		KeyRotateBytes: fmt.Sprint(int64(1) << 40),
	}
}

// writeRaw writes rows with parquet-go's typed writer, as a Go program
// with a struct per row would.
func writeRaw[T any](b *testing.B, path string, rows []T) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pq.NewGenericWriter[T](f, rawOptions()...)
	for start := 0; start < len(rows); start += benchBatch {
		if _, err := w.Write(rows[start : start+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	closeRaw(b, f, w.Close)
}

// writeRawRows writes ready parquet.Row values with the dynamic-schema
// writer (schema known at run time, as the sink's is).
func writeRawRows(b *testing.B, path string, schema *pq.Schema, rows []pq.Row) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := pq.NewGenericWriter[any](f, rawOptions(schema)...)
	for start := 0; start < len(rows); start += benchBatch {
		if _, err := w.WriteRows(rows[start : start+benchBatch]); err != nil {
			b.Fatal(err)
		}
	}
	closeRaw(b, f, w.Close)
}

func closeRaw(b *testing.B, f *os.File, close func() error) {
	if err := close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// writeSink writes the batches through an open sink (default partitioning:
// dt=/hour= by record time; the rows span 200s, one directory) and returns
// the file it committed.
func writeSink(b *testing.B, s *Sink, batches []connectors.ColumnBatch) string {
	ctx := context.Background()
	if err := s.WriteColumns(ctx, batches); err != nil {
		b.Fatal(err)
	}
	// The segment is complete: commit it as the next record would.
	tp := batches[0].TopicPartition
	st := s.parts[tp]
	if len(st.order) != 1 {
		b.Fatalf("sink wrote %d files; want 1", len(st.order))
	}
	file := st.order[0].finalPath
	if err := s.commitSegment(tp, st); err != nil {
		b.Fatal(err)
	}
	return file
}

// pqRows is rows as parquet.Row values of schema.
func pqRows[T any](schema *pq.Schema, rows []T) []pq.Row {
	out := make([]pq.Row, len(rows))
	for i := range rows {
		out[i] = schema.Deconstruct(nil, &rows[i])
	}
	return out
}

func BenchmarkParquetSinkVsRaw(b *testing.B) {
	rows, batches := benchData()
	benchSinkVsRaw(b, rows, batches)
}

func BenchmarkParquetSinkVsRawNullable(b *testing.B) {
	rows, batches := benchDataNullable()
	benchSinkVsRaw(b, rows, batches)
}

func benchSinkVsRaw[T any](b *testing.B, rows []T, batches []connectors.ColumnBatch) {
	schema := pq.SchemaOf(new(T))
	prows := pqRows(schema, rows)
	dir := b.TempDir()
	var files [3]string
	// The raw writers write into an existing directory; so does the sink:
	// its hour directory is made before timing (a new hour's directory is
	// made, and its parent fsynced, once an hour, not once a file).
	sinkRoot := func(i int) string { return filepath.Join(dir, fmt.Sprintf("sink-%d", i)) }
	// The sink is opened once per task, not once per file: open it before
	// timing too.
	var sink *Sink
	prepare := func(i int) {
		hour := filepath.Join(sinkRoot(i), "bench", benchBase.Format("dt=2006-01-02"), benchBase.Format("hour=15"))
		if err := os.MkdirAll(hour, 0o755); err != nil {
			b.Fatal(err)
		}
		sink = openSink(b, benchSinkConfig(sinkRoot(i)))
	}
	writers := []struct {
		name  string
		write func(i int)
	}{
		{"struct", func(i int) {
			files[0] = filepath.Join(dir, fmt.Sprintf("struct-%d.parquet", i))
			writeRaw(b, files[0], rows)
		}},
		{"rows", func(i int) {
			files[1] = filepath.Join(dir, fmt.Sprintf("rows-%d.parquet", i))
			writeRawRows(b, files[1], schema, prows)
		}},
		{"sink", func(i int) {
			files[2] = writeSink(b, sink, batches)
		}},
	}
	wall := make([]time.Duration, len(writers))
	cpu := make([]time.Duration, len(writers))
	ratios := make([][]float64, 2)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var w, c [3]time.Duration
		prepare(i)
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
	checkSameFiles(b, files[:])
}

// checkSameFiles asserts that the files are comparable: one row group of
// benchRows rows each, equal schemas, snappy pages, equal rows.
func checkSameFiles(b *testing.B, paths []string) {
	var first *pq.File
	var firstRows []pq.Row
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		pf, err := pq.OpenFile(f, st.Size())
		if err != nil {
			b.Fatalf("%s: %v", path, err)
		}
		if rgs := pf.RowGroups(); len(rgs) != 1 || rgs[0].NumRows() != benchRows {
			b.Fatalf("%s: %d row groups; want one of %d rows", path, len(rgs), benchRows)
		}
		for _, cc := range pf.Metadata().RowGroups[0].Columns {
			if codec := cc.MetaData.Codec.String(); codec != "SNAPPY" {
				b.Fatalf("%s: column %v compressed with %s", path, cc.MetaData.PathInSchema, codec)
			}
		}
		r := pq.NewGenericReader[any](pf)
		rows := make([]pq.Row, benchRows)
		if n, err := r.ReadRows(rows); n != benchRows {
			b.Fatalf("%s: read %d rows: %v", path, n, err)
		}
		r.Close()
		if first == nil {
			first, firstRows = pf, rows
			continue
		}
		if !pq.EqualNodes(first.Schema(), pf.Schema()) {
			b.Fatalf("schemas differ:\n%s: %v\n%s: %v", paths[0], first.Schema(), path, pf.Schema())
		}
		for i := range rows {
			if !slices.EqualFunc(rows[i], firstRows[i], pq.Equal) {
				b.Fatalf("row %d differs:\n%s: %v\n%s: %v", i, paths[0], firstRows[i], path, rows[i])
			}
		}
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

// BenchmarkSinkOnly measures the sink alone (rows/s), for profiling; the
// "values" case is the sink without typed writes into the column buffers.
func BenchmarkSinkOnly(b *testing.B) {
	_, batches := benchData()
	for _, c := range []struct {
		name string
		path writePath
	}{{"columnar", pathColumnar}, {"values", pathValues}} {
		b.Run(c.name, func(b *testing.B) {
			dir := b.TempDir()
			for i := 0; i < b.N; i++ {
				// As in benchSinkVsRaw: open sink, existing hour directory.
				b.StopTimer()
				root := filepath.Join(dir, fmt.Sprint(i))
				hour := filepath.Join(root, "bench", benchBase.Format("dt=2006-01-02"), benchBase.Format("hour=15"))
				if err := os.MkdirAll(hour, 0o755); err != nil {
					b.Fatal(err)
				}
				s := openSink(b, benchSinkConfig(root))
				s.cfg.file.path = c.path
				b.StartTimer()
				writeSink(b, s, batches)
			}
			b.ReportMetric(float64(benchRows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
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
