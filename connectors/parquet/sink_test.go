package parquet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// recordsFromJSON builds an Arrow record from JSON rows (Arrow's own JSON
// reader, so the test does not depend on the code under test).
func recordsFromJSON(t testing.TB, s *arrow.Schema, rows ...string) arrow.Record {
	t.Helper()
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, s, strings.NewReader("["+strings.Join(rows, ",")+"]"))
	if err != nil {
		t.Fatalf("RecordFromJSON: %v", err)
	}
	return rec
}

// columnBatch wraps rec as a batch of tp starting at offset, with record
// timestamps given by ts(i).
func columnBatch(tp connectors.TopicPartition, offset int64, rec arrow.Record, ts func(i int) time.Time) connectors.ColumnBatch {
	recs := make([]connectors.Record, rec.NumRows())
	for i := range recs {
		value, err := json.Marshal(rec.NewSlice(int64(i), int64(i+1)))
		if err != nil {
			panic(err)
		}
		recs[i] = connectors.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: offset + int64(i),
			Value: value, Timestamp: ts(i)}
	}
	return connectors.ColumnBatch{TopicPartition: tp, Columns: rec, Records: recs}
}

func openSink(t testing.TB, raw map[string]string) *Sink {
	t.Helper()
	cfg, err := SinkSpec.Parse(raw)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s := NewSink()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "pq", Logger: logger}, cfg); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// readDir decodes every committed Parquet file under root into JSON rows,
// keyed by file path relative to root, and reports temporary files left
// visible.
func readDir(t testing.TB, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if !strings.HasSuffix(path, ".parquet") {
			return nil
		}
		out[rel] = readFile(t, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readFile(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := pq.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	dec, err := newRowDecoder(pf.Schema())
	if err != nil {
		t.Fatalf("decoder %s: %v", path, err)
	}
	r := pq.NewGenericReader[any](pf)
	defer r.Close()
	var rows []string
	buf := make([]pq.Row, 64)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			rows = append(rows, string(dec.appendJSON(nil, row)))
		}
		if err != nil {
			break
		}
	}
	return rows
}

var allTypes = arrow.NewSchema([]arrow.Field{
	{Name: "i8", Type: arrow.PrimitiveTypes.Int8},
	{Name: "i16", Type: arrow.PrimitiveTypes.Int16},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32},
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
	{Name: "u8", Type: arrow.PrimitiveTypes.Uint8},
	{Name: "u64", Type: arrow.PrimitiveTypes.Uint64},
	{Name: "f32", Type: arrow.PrimitiveTypes.Float32},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "b", Type: arrow.FixedWidthTypes.Boolean},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "d9", Type: &arrow.Decimal128Type{Precision: 9, Scale: 2}},
	{Name: "d18", Type: &arrow.Decimal128Type{Precision: 18, Scale: 4}},
	{Name: "d38", Type: &arrow.Decimal128Type{Precision: 38, Scale: 10}, Nullable: true},
	{Name: "ts", Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
	{Name: "local", Type: &arrow.TimestampType{Unit: arrow.Millisecond}, Nullable: true},
	{Name: "day", Type: arrow.FixedWidthTypes.Date32},
	{Name: "tod", Type: arrow.FixedWidthTypes.Time64us, Nullable: true},
	{Name: "tags", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
	{Name: "nested", Type: arrow.StructOf(
		arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "xs", Type: arrow.ListOf(arrow.PrimitiveTypes.Int32), Nullable: true},
	), Nullable: true},
}, nil)

func TestSinkTypesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir, KeyFlushSize: "3"})
	rows := []string{
		`{"i8":-8,"i16":-16,"i32":-32,"i64":-9007199254740992,"u8":200,"u64":10000000000000000000,"f32":1.5,"f64":-2.25,"b":true,` +
			`"s":"héllo \"q\"","bin":"AAEC","d9":"1234567.89","d18":"-12345678901234.5678","d38":"1234567890123456789012345678.0123456789",` +
			`"ts":"2024-03-05T10:11:12.123456Z","local":"2024-03-05T10:11:12.5","day":"2024-03-05","tod":"23:59:58.000001",` +
			`"tags":["a","",null],"nested":{"a":7,"xs":[1,2,3]}}`,
		`{"i8":0,"i16":0,"i32":0,"i64":0,"u8":0,"u64":0,"f32":0,"f64":null,"b":false,` +
			`"s":null,"bin":null,"d9":"-0.01","d18":"0","d38":null,` +
			`"ts":"1969-12-31T23:59:59.999999Z","local":null,"day":"1900-01-01","tod":null,` +
			`"tags":[],"nested":{"a":null,"xs":[]}}`,
		`{"i8":1,"i16":1,"i32":1,"i64":1,"u8":1,"u64":1,"f32":1,"f64":1,"b":true,` +
			`"s":"","bin":"","d9":"0.10","d18":"1.0000","d38":"-1.5","ts":"2024-03-05T10:11:12Z","local":"2024-03-05T00:00:00","day":"2024-03-05","tod":"00:00:00",` +
			`"tags":null,"nested":null}`,
	}
	want := []string{
		`{"i8":-8,"i16":-16,"i32":-32,"i64":-9007199254740992,"u8":200,"u64":10000000000000000000,"f32":1.5,"f64":-2.25,"b":true,` +
			`"s":"héllo \"q\"","bin":"AAEC","d9":"1234567.89","d18":"-12345678901234.5678","d38":"1234567890123456789012345678.0123456789",` +
			`"ts":"2024-03-05T10:11:12.123456Z","local":"2024-03-05T10:11:12.5","day":"2024-03-05","tod":"23:59:58.000001",` +
			`"tags":["a","",null],"nested":{"a":7,"xs":[1,2,3]}}`,
		`{"i8":0,"i16":0,"i32":0,"i64":0,"u8":0,"u64":0,"f32":0,"f64":null,"b":false,` +
			`"s":null,"bin":null,"d9":"-0.01","d18":"0.0000","d38":null,` +
			`"ts":"1969-12-31T23:59:59.999999Z","local":null,"day":"1900-01-01","tod":null,` +
			`"tags":[],"nested":{"a":null,"xs":[]}}`,
		`{"i8":1,"i16":1,"i32":1,"i64":1,"u8":1,"u64":1,"f32":1,"f64":1,"b":true,` +
			`"s":"","bin":"","d9":"0.10","d18":"1.0000","d38":"-1.5000000000","ts":"2024-03-05T10:11:12Z","local":"2024-03-05T00:00:00","day":"2024-03-05","tod":"00:00:00",` +
			`"tags":null,"nested":null}`,
	}
	rec := recordsFromJSON(t, allTypes, rows...)
	defer rec.Release()
	tp := connectors.TopicPartition{Topic: "readings", Partition: 2}
	at := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if err := s.WriteColumns(ctx, []connectors.ColumnBatch{columnBatch(tp, 40, rec, func(int) time.Time { return at })}); err != nil {
		t.Fatalf("WriteColumns: %v", err)
	}
	// The third record completes flush.size=3, but a segment closes when
	// the next record arrives; until then nothing is acknowledged.
	off, err := s.Flush(ctx, connectors.Offsets{tp: 43})
	if err != nil || off[tp] != 40 {
		t.Fatalf("Flush = %v, %v; want offset 40 (nothing committed)", off, err)
	}
	rec2 := recordsFromJSON(t, allTypes, rows[2])
	defer rec2.Release()
	if err := s.WriteColumns(ctx, []connectors.ColumnBatch{columnBatch(tp, 43, rec2, func(int) time.Time { return at })}); err != nil {
		t.Fatalf("WriteColumns: %v", err)
	}
	off, _ = s.Flush(ctx, connectors.Offsets{tp: 44})
	if off[tp] != 43 {
		t.Fatalf("Flush = %v; want 43", off)
	}
	files := readDir(t, dir)
	name := filepath.Join("readings", "dt=2024-03-05", "hour=10", "readings+2+0000000040.parquet")
	got, ok := files[name]
	if !ok || len(files) != 1 {
		t.Fatalf("files = %v; want only %s", keys(files), name)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoTemporaries(t, dir)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func assertNoTemporaries(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".tmp") {
			t.Errorf("temporary file left behind: %s", path)
		}
		return nil
	})
}

var simpleSchema = arrow.NewSchema([]arrow.Field{
	{Name: "id", Type: arrow.PrimitiveTypes.Int64},
	{Name: "device", Type: arrow.BinaryTypes.String},
	{Name: "temp", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
}, nil)

// simpleBatch makes rows n0..n0+n-1 of tp, one second of record time each
// starting at base + n0 seconds.
func simpleBatch(t testing.TB, tp connectors.TopicPartition, n0, n int, base time.Time) connectors.ColumnBatch {
	rows := make([]string, n)
	for i := range rows {
		id := n0 + i
		rows[i] = fmt.Sprintf(`{"id":%d,"device":"dev-%d","temp":%d.5}`, id, id%7, id%40)
	}
	rec := recordsFromJSON(t, simpleSchema, rows...)
	return columnBatch(tp, int64(n0), rec, func(i int) time.Time { return base.Add(time.Duration(n0+i) * time.Second) })
}

func TestSinkPartitionsAndRollsByRecordTime(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir, KeyRotateInterval: "30m", KeyFlushSize: "1000000"})
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	base := time.Date(2024, 1, 1, 22, 50, 0, 0, time.UTC)
	// 2h of records, one per second: windows [22:30,23:00) [23:00,23:30) ...
	const n = 7200
	for i := 0; i < n; i += 500 {
		k := min(500, n-i)
		b := simpleBatch(t, tp, i, k, base)
		if err := s.WriteColumns(ctx, []connectors.ColumnBatch{b}); err != nil {
			t.Fatal(err)
		}
		b.Columns.Release()
	}
	off, _ := s.Flush(ctx, connectors.Offsets{tp: n})
	// Last window starts at 00:30 (base+6000s = 00:30:00) → offset 6000.
	if off[tp] != 6000 {
		t.Fatalf("committed %d; want 6000 (start of the open 00:30 window)", off[tp])
	}
	files := readDir(t, dir)
	wantFiles := []string{
		"t/dt=2024-01-01/hour=22/t+0+0000000000.parquet", // 22:50-22:59:59
		"t/dt=2024-01-01/hour=23/t+0+0000000600.parquet", // 23:00-23:29:59
		"t/dt=2024-01-01/hour=23/t+0+0000002400.parquet", // 23:30-23:59:59
		"t/dt=2024-01-02/hour=00/t+0+0000004200.parquet", // 00:00-00:29:59
	}
	if got := keys(files); strings.Join(got, "\n") != strings.Join(wantFiles, "\n") {
		t.Fatalf("files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFiles, "\n"))
	}
	checkIDs(t, files, 0, 6000)
}

// checkIDs asserts that the files hold ids lo..hi-1 exactly once each.
func checkIDs(t *testing.T, files map[string][]string, lo, hi int) {
	t.Helper()
	seen := map[int]int{}
	for _, rows := range files {
		for _, r := range rows {
			var id int
			if _, err := fmt.Sscanf(r, `{"id":%d,`, &id); err != nil {
				t.Fatalf("row %s: %v", r, err)
			}
			seen[id]++
		}
	}
	for id := lo; id < hi; id++ {
		if seen[id] != 1 {
			t.Errorf("id %d appears %d times", id, seen[id])
		}
		delete(seen, id)
	}
	if len(seen) > 0 {
		t.Errorf("%d unexpected ids (e.g. beyond the committed range)", len(seen))
	}
}

// TestSinkReplayAfterCrashLeavesNoDuplicates simulates a crash between
// renaming files and committing offsets: a first sink writes past several
// segment boundaries and dies with only an early Flush's offset committed,
// then a second sink replays from that offset with different batch sizes.
// The result must be exactly what one uninterrupted run produces: the same
// files with the same rows, each row once.
func TestSinkReplayAfterCrashLeavesNoDuplicates(t *testing.T) {
	raw := func(dir string) map[string]string {
		return map[string]string{KeyPath: dir, KeyFlushSize: "700", KeyRotateBytes: "20000", KeyRowGroupRows: "128"}
	}
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 3}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 5000
	write := func(s *Sink, from, to, step int) {
		t.Helper()
		for i := from; i < to; i += step {
			b := simpleBatch(t, tp, i, min(step, to-i), base)
			if err := s.WriteColumns(ctx, []connectors.ColumnBatch{b}); err != nil {
				t.Fatal(err)
			}
			b.Columns.Release()
		}
	}

	refDir := t.TempDir()
	ref := openSink(t, raw(refDir))
	write(ref, 0, n, 1000)
	refOff, _ := ref.Flush(ctx, connectors.Offsets{tp: n})
	want := readDir(t, refDir)

	dir := t.TempDir()
	first := openSink(t, raw(dir))
	write(first, 0, 2331, 333)
	off, _ := first.Flush(ctx, connectors.Offsets{tp: 2331})
	committed := off[tp]
	write(first, 2331, n, 333)
	// Crash: no Close, no further commit; files renamed after the commit
	// and open temporaries stay behind.
	if committed == 0 {
		t.Fatalf("nothing committed before the crash")
	}
	renamedAfterCommit := 0
	for name := range readDir(t, dir) {
		var start int64
		fmt.Sscanf(filepath.Base(name), "t+3+%d.parquet", &start)
		if start >= committed {
			renamedAfterCommit++
		}
	}
	if renamedAfterCommit == 0 {
		t.Fatalf("the test needs files renamed after the last commit")
	}

	second := openSink(t, raw(dir))
	write(second, int(committed), n, 101)
	off, _ = second.Flush(ctx, connectors.Offsets{tp: n})
	if off[tp] != refOff[tp] {
		t.Fatalf("committed %d after replay; an uninterrupted run commits %d", off[tp], refOff[tp])
	}
	got := readDir(t, dir)
	if strings.Join(keys(got), " ") != strings.Join(keys(want), " ") {
		t.Fatalf("files after replay:\n%v\nuninterrupted run:\n%v", keys(got), keys(want))
	}
	for name, rows := range want {
		if strings.Join(got[name], "\n") != strings.Join(rows, "\n") {
			t.Errorf("%s differs from the uninterrupted run", name)
		}
	}
	checkIDs(t, got, 0, int(off[tp]))
	second.Close(ctx)
	assertNoTemporaries(t, dir)
}

func TestSinkSchemaChangeStartsNewFile(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyFlushSize: "10"})
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	at := func(int) time.Time { return time.Unix(0, 0) }
	v2 := arrow.NewSchema(append(simpleSchema.Fields(), arrow.Field{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true}), nil)
	b1 := columnBatch(tp, 0, recordsFromJSON(t, simpleSchema, `{"id":0,"device":"a","temp":1}`, `{"id":1,"device":"b","temp":null}`), at)
	b2 := columnBatch(tp, 2, recordsFromJSON(t, v2, `{"id":2,"device":"c","temp":2,"site":"x"}`), at)
	b3 := simpleBatch(t, tp, 3, 8, time.Unix(0, 0))
	if err := s.WriteColumns(ctx, []connectors.ColumnBatch{b1, b2, b3}); err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	want := map[string][]string{
		"t/t+0+0000000000.parquet": {`{"id":0,"device":"a","temp":1}`, `{"id":1,"device":"b","temp":null}`},
		"t/t+0+0000000002.parquet": {`{"id":2,"device":"c","temp":2,"site":"x"}`},
		"t/t+0+0000000003.parquet": {`{"id":3,"device":"dev-3","temp":3.5}`, `{"id":4,"device":"dev-4","temp":4.5}`,
			`{"id":5,"device":"dev-5","temp":5.5}`, `{"id":6,"device":"dev-6","temp":6.5}`, `{"id":7,"device":"dev-0","temp":7.5}`,
			`{"id":8,"device":"dev-1","temp":8.5}`, `{"id":9,"device":"dev-2","temp":9.5}`},
	}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Fatalf("files:\n%v\nwant:\n%v", files, want)
	}
	off, _ := s.Flush(ctx, connectors.Offsets{tp: 11})
	if off[tp] != 10 {
		t.Fatalf("committed %d; want 10", off[tp])
	}
}

func TestSinkRevokeDiscardsOpenFiles(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir})
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 1}
	if err := s.WriteColumns(ctx, []connectors.ColumnBatch{simpleBatch(t, tp, 0, 10, time.Unix(0, 0))}); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoked(ctx, []connectors.TopicPartition{tp}); err != nil {
		t.Fatal(err)
	}
	if files := readDir(t, dir); len(files) != 0 {
		t.Fatalf("files after revoke: %v", keys(files))
	}
	assertNoTemporaries(t, dir)
	off, _ := s.Flush(ctx, connectors.Offsets{})
	if len(off) != 0 {
		t.Fatalf("offsets after revoke: %v", off)
	}
}

func TestSinkRefusesUnpartitionableBatch(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir, KeyPartitionField: "device"})
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 1}
	err := s.WriteColumns(ctx, []connectors.ColumnBatch{simpleBatch(t, tp, 0, 3, time.Unix(0, 0))})
	re, ok := err.(*connectors.RecordErrors)
	if !ok || len(*re) != 3 || !strings.Contains(err.Error(), `"device"`) {
		t.Fatalf("err = %v; want 3 record errors naming the field", err)
	}
	// Tombstones are skipped; other rows given to Write are refused.
	err = s.Write(ctx, []connectors.Record{{Offset: 4}, {Offset: 5, Value: []byte(`{}`)}})
	re, ok = err.(*connectors.RecordErrors)
	if !ok || len(*re) != 1 || (*re)[0].Index != 1 {
		t.Fatalf("Write err = %v; want record 1 refused", err)
	}
}

// TestSinkWorkerTypes feeds the sink the way the worker does — JSON values
// decoded by connectors/schema into Arrow batches, with the uuid and json
// extension types — and reads the file back through the source's decoder:
// the JSON and the Arrow schema come back as they went in.
func TestSinkWorkerTypes(t *testing.T) {
	wire := `{"fields":[` +
		`{"name":"id","type":"uuid"},` +
		`{"name":"payload","type":"json","nullable":true},` +
		`{"name":"amount","type":"decimal128(20,4)"},` +
		`{"name":"at","type":"timestamp[us, UTC]"},` +
		`{"name":"day","type":"date32","nullable":true},` +
		`{"name":"lines","type":"list<struct<sku: string, qty: int32>>","nullable":true}]}`
	s, err := schema.UnmarshalSchema([]byte(wire))
	if err != nil {
		t.Fatal(err)
	}
	rows := []string{
		`{"id":"123e4567-e89b-12d3-a456-426614174000","payload":{"a":[1,"x",null]},"amount":"-1234567890123456.0001","at":"2024-02-29T23:59:59.999999Z","day":"2024-02-29","lines":[{"sku":"A","qty":2},{"sku":"B","qty":null}]}`,
		`{"id":"00000000-0000-0000-0000-000000000001","payload":null,"amount":"0.0000","at":"1970-01-01T00:00:00Z","day":null,"lines":null}`,
	}
	rb := schema.NewRecordBuilder(memory.DefaultAllocator, s)
	defer rb.Release()
	for _, r := range rows {
		if err := rb.AppendJSON([]byte(r)); err != nil {
			t.Fatalf("AppendJSON %s: %v", r, err)
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	dir := t.TempDir()
	sink := openSink(t, map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyFlushSize: "2"})
	tp := connectors.TopicPartition{Topic: "pay", Partition: 0}
	b := columnBatch(tp, 0, rec, func(int) time.Time { return time.Unix(0, 0) })
	if err := sink.WriteColumns(context.Background(), []connectors.ColumnBatch{b}); err != nil {
		t.Fatal(err)
	}
	if err := sink.commitSegment(tp, sink.parts[tp]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pay", "pay+0+0000000000.parquet")
	got := readFile(t, path)
	for i := range rows {
		if got[i] != rows[i] {
			t.Errorf("row %d:\n got %s\nwant %s", i, got[i], rows[i])
		}
	}
	src := openSource(t, map[string]string{KeySourcePath: path, KeySourceTopic: "copy"}, nil)
	defer src.Close(context.Background())
	recs, err := src.Poll(context.Background())
	if err != nil || len(recs) != 2 {
		t.Fatalf("source: %d records, %v", len(recs), err)
	}
	if !recs[0].Schema.Equal(s) {
		t.Errorf("schema read back:\n%v\nwant\n%v", recs[0].Schema, s)
	}
}

// TestSinkMaxOpenFiles: late records spread over many hours commit the open
// files when max.open.files would be exceeded; the cut is at a record, so a
// replay makes the same files.
func TestSinkMaxOpenFiles(t *testing.T) {
	dir := t.TempDir()
	s := openSink(t, map[string]string{KeyPath: dir, KeyMaxOpenFiles: "2", KeyRotateInterval: "0"})
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	hours := []int{5, 6, 5, 7, 5} // the third distinct hour (7) exceeds the limit
	b := simpleBatch(t, tp, 0, len(hours), time.Unix(0, 0))
	for i, h := range hours {
		b.Records[i].Timestamp = time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC)
	}
	if err := s.WriteColumns(ctx, []connectors.ColumnBatch{b}); err != nil {
		t.Fatal(err)
	}
	off, _ := s.Flush(ctx, connectors.Offsets{tp: int64(len(hours))})
	if off[tp] != 3 {
		t.Fatalf("committed %d; want 3 (the segment cut before the third directory)", off[tp])
	}
	want := []string{
		"t/dt=2024-01-01/hour=05/t+0+0000000000.parquet",
		"t/dt=2024-01-01/hour=06/t+0+0000000001.parquet",
	}
	if got := keys(readDir(t, dir)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v; want %v", got, want)
	}
}

// TestSinkReplayWithDifferentSchemaCut: schemaless values get a schema
// inferred per batch, so a replay can change schema at a different record
// than the first attempt did, cutting files differently inside a segment.
// The first attempt's extra file must not survive as a duplicate.
func TestSinkReplayWithDifferentSchemaCut(t *testing.T) {
	dir := t.TempDir()
	raw := map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyFlushSize: "10"}
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	at := func(int) time.Time { return time.Unix(0, 0) }
	wide := arrow.NewSchema(append(simpleSchema.Fields(), arrow.Field{Name: "site", Type: arrow.BinaryTypes.String, Nullable: true}), nil)
	rows := func(s *arrow.Schema, from, to int) arrow.Record {
		var rs []string
		for i := from; i < to; i++ {
			rs = append(rs, fmt.Sprintf(`{"id":%d,"device":"d","temp":1}`, i))
		}
		return recordsFromJSON(t, s, rs...)
	}
	// First attempt: narrow schema for 0..4, wide from 5: files start at 0
	// and 5; the segment [0,10) is committed when record 10 arrives.
	first := openSink(t, raw)
	if err := first.WriteColumns(ctx, []connectors.ColumnBatch{
		columnBatch(tp, 0, rows(simpleSchema, 0, 5), at),
		columnBatch(tp, 5, rows(wide, 5, 11), at),
	}); err != nil {
		t.Fatal(err)
	}
	if got := keys(readDir(t, dir)); len(got) != 2 {
		t.Fatalf("first attempt files %v; want 2", got)
	}
	// The offset commit was lost; the replay sees one wide batch.
	second := openSink(t, raw)
	if err := second.WriteColumns(ctx, []connectors.ColumnBatch{columnBatch(tp, 0, rows(wide, 0, 11), at)}); err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	if got := keys(files); len(got) != 1 || got[0] != "t/t+0+0000000000.parquet" {
		t.Fatalf("files after replay %v; want only t+0+0000000000", got)
	}
	checkIDs(t, files, 0, 10)
}

func TestSinkOpenChecksPath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := SinkSpec.Parse(map[string]string{KeyPath: filepath.Join(file, "out")})
	if err != nil {
		t.Fatal(err)
	}
	err = NewSink().Open(context.Background(), connectors.TaskInfo{}, cfg)
	if err == nil || !strings.Contains(err.Error(), KeyPath) {
		t.Fatalf("Open = %v; want an error naming %s", err, KeyPath)
	}
}

// TestSinkScheduledRotation: rotate.schedule.interval commits a quiet
// partition's files at a flush; a crash after such timing-dependent cuts,
// replayed without them, leaves no duplicate once the replay's segment is
// committed (the first attempt's extra file is removed).
func TestSinkScheduledRotation(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	epoch := time.Unix(0, 0)
	first := openSink(t, map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyRotateSchedule: "1ms"})
	if err := first.WriteColumns(ctx, []connectors.ColumnBatch{simpleBatch(t, tp, 0, 5, epoch)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	off, err := first.Flush(ctx, connectors.Offsets{tp: 5})
	if err != nil || off[tp] != 5 {
		t.Fatalf("Flush = %v, %v; want 5 (the quiet partition's files committed)", off, err)
	}
	if err := first.WriteColumns(ctx, []connectors.ColumnBatch{simpleBatch(t, tp, 5, 5, epoch)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	// This flush renames t+0+5 but its offset commit is lost in a crash.
	if _, err := first.Flush(ctx, connectors.Offsets{tp: 10}); err != nil {
		t.Fatal(err)
	}
	if got := keys(readDir(t, dir)); len(got) != 2 {
		t.Fatalf("files %v; want 2", got)
	}
	// Replay from the committed offset 0... (say the commit of 5 was lost
	// too) with record-driven rolls only.
	second := openSink(t, map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyFlushSize: "10"})
	if err := second.WriteColumns(ctx, []connectors.ColumnBatch{simpleBatch(t, tp, 0, 11, epoch)}); err != nil {
		t.Fatal(err)
	}
	files := readDir(t, dir)
	if got := keys(files); len(got) != 1 {
		t.Fatalf("files after replay %v; want 1", got)
	}
	checkIDs(t, files, 0, 10)
}

// TestSinkMetrics: the sink publishes its series through the registerer
// the worker gives it, labelled by connector.
func TestSinkMetrics(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	cfg, err := SinkSpec.Parse(map[string]string{KeyPath: dir, KeyPartitionBy: partitionByNone, KeyFlushSize: "4"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSink()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "pq-metrics", Logger: logger, Metrics: reg}, cfg); err != nil {
		t.Fatal(err)
	}
	tp := connectors.TopicPartition{Topic: "m", Partition: 0}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	// 10 records: two segments of 4 committed, 2 rows left open.
	if err := s.WriteColumns(context.Background(), []connectors.ColumnBatch{simpleBatch(t, tp, 0, 10, base)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var size int64
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		size += info.Size()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	got := gatherSeries(t, reg, "pq-metrics")
	for name, want := range map[string]float64{
		"sluice_parquet_sink_files_committed_total": 2,
		"sluice_parquet_sink_rows_total":            8,
		"sluice_parquet_sink_bytes_total":           float64(size),
		"sluice_parquet_sink_files_discarded_total": 1,
		"sluice_parquet_sink_commit_seconds":        2, // observations
	} {
		if got[name] != want {
			t.Errorf("%s = %v; want %v", name, got[name], want)
		}
	}
}

// gatherSeries returns, by metric name, the value of the connector's
// counters and the sample count of its histograms.
func gatherSeries(t *testing.T, reg *prometheus.Registry, connector string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "connector" || l.GetValue() != connector {
					continue
				}
				switch {
				case m.GetCounter() != nil:
					out[mf.GetName()] = m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					out[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return out
}
