package parquet

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/decimal256"
	"github.com/apache/arrow/go/v17/arrow/float16"
	"github.com/apache/arrow/go/v17/arrow/memory"
	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// TestColumnarPathAvailable fails when a parquet-go upgrade takes away what
// the columnar path relies on (columnbuf.go): the sink still works then,
// through WriteRowValues, but slower.
func TestColumnarPathAvailable(t *testing.T) {
	if !columnarAvailable() {
		t.Fatal("parquet.ColumnWriter has no columnBuffer field of type parquet.ColumnBuffer: the columnar path is off")
	}
	s := pq.NewSchema("t", pq.Group{"a": pq.Int(64), "b": pq.Leaf(pq.DoubleType), "c": pq.Optional(pq.Int(32))})
	w := pq.NewGenericWriter[any](&bytes.Buffer{}, s)
	cws := w.ColumnWriters()
	for i, want := range []func(pq.ColumnBuffer) bool{
		func(b pq.ColumnBuffer) bool { _, ok := b.(pq.Int64Writer); return ok },
		func(b pq.ColumnBuffer) bool { _, ok := b.(pq.DoubleWriter); return ok },
		func(b pq.ColumnBuffer) bool { _, ok := b.(pq.Int32Writer); return !ok }, // optional: values only
	} {
		buf, err := columnBufferOf(cws[i])
		if err != nil || buf == nil {
			t.Fatalf("column %d: buffer %v, %v", i, buf, err)
		}
		if !want(buf) {
			t.Errorf("column %d: buffer %T does not have the expected typed writer", i, buf)
		}
	}
}

// flatTypes are the types the columnar path reads, plus some it leaves to
// the per-value encoders, so that both meet in one file.
var flatTypes = []arrow.DataType{
	arrow.FixedWidthTypes.Boolean,
	arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Int16, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int64,
	arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint16, arrow.PrimitiveTypes.Uint32, arrow.PrimitiveTypes.Uint64,
	arrow.FixedWidthTypes.Float16, arrow.PrimitiveTypes.Float32, arrow.PrimitiveTypes.Float64,
	arrow.BinaryTypes.String, arrow.BinaryTypes.LargeString, arrow.BinaryTypes.Binary, arrow.BinaryTypes.LargeBinary,
	&arrow.FixedSizeBinaryType{ByteWidth: 5}, &arrow.FixedSizeBinaryType{ByteWidth: 16}, schema.UUID(), schema.JSON(),
	&arrow.Decimal128Type{Precision: 7, Scale: 2}, &arrow.Decimal128Type{Precision: 15, Scale: 3}, &arrow.Decimal128Type{Precision: 30, Scale: 5},
	&arrow.Decimal256Type{Precision: 8, Scale: 1}, &arrow.Decimal256Type{Precision: 17, Scale: 0}, &arrow.Decimal256Type{Precision: 60, Scale: 10},
	arrow.FixedWidthTypes.Date32, arrow.FixedWidthTypes.Date64,
	arrow.FixedWidthTypes.Timestamp_s, arrow.FixedWidthTypes.Timestamp_ms, arrow.FixedWidthTypes.Timestamp_us, arrow.FixedWidthTypes.Timestamp_ns,
	&arrow.TimestampType{Unit: arrow.Microsecond}, &arrow.TimestampType{Unit: arrow.Second},
	arrow.FixedWidthTypes.Time32s, arrow.FixedWidthTypes.Time32ms, arrow.FixedWidthTypes.Time64us, arrow.FixedWidthTypes.Time64ns,
	arrow.FixedWidthTypes.Duration_ms,
	// Not flat: the per-value path.
	arrow.BinaryTypes.StringView,
	arrow.ListOf(arrow.PrimitiveTypes.Int32),
	arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true}, arrow.Field{Name: "y", Type: arrow.BinaryTypes.String}),
	&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String},
}

// randomSchema picks a random subset of flatTypes (at least one), each
// nullable or not.
func randomSchema(rng *rand.Rand) *arrow.Schema {
	var fields []arrow.Field
	for len(fields) == 0 {
		for i, dt := range flatTypes {
			if rng.IntN(3) == 0 {
				continue
			}
			fields = append(fields, arrow.Field{Name: fmt.Sprintf("f%d", i), Type: dt, Nullable: rng.IntN(2) == 0})
		}
	}
	rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	return arrow.NewSchema(fields, nil)
}

// randomRecord builds n rows of s, nulls at rate nullRate in nullable
// fields. The arrays are a slice of larger ones, so that they start at a
// non-zero offset (in bits too, for bitmaps).
func randomRecord(t testing.TB, rng *rand.Rand, s *arrow.Schema, n int, nullRate float64) arrow.Record {
	t.Helper()
	pad := rng.IntN(11)
	b := array.NewRecordBuilder(memory.DefaultAllocator, s)
	defer b.Release()
	for i, f := range s.Fields() {
		rate := nullRate
		if !f.Nullable {
			rate = 0
		}
		for r := 0; r < pad+n; r++ {
			appendRandom(t, rng, b.Field(i), rate)
		}
	}
	full := b.NewRecord()
	defer full.Release()
	return full.NewSlice(int64(pad), int64(pad+n))
}

func appendRandom(t testing.TB, rng *rand.Rand, b array.Builder, nullRate float64) {
	if rng.Float64() < nullRate {
		b.AppendNull()
		return
	}
	str := func() string {
		const letters = "abcdefghé\x00xyz"
		buf := make([]byte, rng.IntN(12))
		for i := range buf {
			buf[i] = letters[rng.IntN(len(letters))]
		}
		return string(buf)
	}
	i64 := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return math.MinInt64 + rng.Int64N(3)
		case 1:
			return math.MaxInt64 - rng.Int64N(3)
		}
		return rng.Int64N(2_000_000) - 1_000_000
	}
	switch b := b.(type) {
	case *array.BooleanBuilder:
		b.Append(rng.IntN(2) == 0)
	case *array.Int8Builder:
		b.Append(int8(i64()))
	case *array.Int16Builder:
		b.Append(int16(i64()))
	case *array.Int32Builder:
		b.Append(int32(i64()))
	case *array.Int64Builder:
		b.Append(i64())
	case *array.Uint8Builder:
		b.Append(uint8(i64()))
	case *array.Uint16Builder:
		b.Append(uint16(i64()))
	case *array.Uint32Builder:
		b.Append(uint32(i64()))
	case *array.Uint64Builder:
		b.Append(uint64(i64()))
	case *array.Float16Builder:
		b.Append(float16.New(float32(rng.NormFloat64() * 100)))
	case *array.Float32Builder:
		b.Append(float32(rng.NormFloat64() * 1e6))
	case *array.Float64Builder:
		b.Append(rng.NormFloat64() * 1e12)
	case *array.StringBuilder:
		b.Append(str())
	case *array.LargeStringBuilder:
		b.Append(str())
	case *array.StringViewBuilder:
		b.Append(str())
	case *array.BinaryBuilder:
		b.Append([]byte(str()))
	case *array.FixedSizeBinaryBuilder:
		v := make([]byte, b.Type().(*arrow.FixedSizeBinaryType).ByteWidth)
		for i := range v {
			v[i] = byte(rng.IntN(256))
		}
		b.Append(v)
	case *array.ExtensionBuilder:
		switch sb := b.StorageBuilder().(type) {
		case *array.FixedSizeBinaryBuilder:
			appendRandom(t, rng, sb, 0)
		case *array.StringBuilder:
			sb.Append(fmt.Sprintf(`{"k":%d}`, rng.IntN(100)))
		default:
			t.Fatalf("no random values for extension storage %T", sb)
		}
	case *array.Decimal128Builder:
		p := b.Type().(*arrow.Decimal128Type).Precision
		v := decimal128.FromI64(i64() % int64(math.Pow10(int(min(p, 18)))))
		b.Append(v)
	case *array.Decimal256Builder:
		p := b.Type().(*arrow.Decimal256Type).Precision
		v := decimal256.FromI64(i64() % int64(math.Pow10(int(min(p, 18)))))
		if p > 40 && rng.IntN(2) == 0 {
			v = v.Mul(decimal256.FromI64(1_000_000_000_000)).Mul(decimal256.FromI64(1_000_000_000_000))
		}
		b.Append(v)
	case *array.Date32Builder:
		b.Append(arrow.Date32(rng.IntN(80000) - 40000))
	case *array.Date64Builder:
		b.Append(arrow.Date64((rng.Int64N(80000) - 40000) * millisPerDay))
	case *array.TimestampBuilder:
		b.Append(arrow.Timestamp(rng.Int64N(4e15) - 2e15))
	case *array.Time32Builder:
		if b.Type().(*arrow.Time32Type).Unit == arrow.Second {
			b.Append(arrow.Time32(rng.IntN(86400)))
		} else {
			b.Append(arrow.Time32(rng.IntN(86400_000)))
		}
	case *array.Time64Builder:
		b.Append(arrow.Time64(rng.Int64N(86400_000_000)))
	case *array.DurationBuilder:
		b.Append(arrow.Duration(i64()))
	case *array.ListBuilder:
		b.Append(true)
		for k := rng.IntN(4); k > 0; k-- {
			appendRandom(t, rng, b.ValueBuilder(), 0.2)
		}
	case *array.StructBuilder:
		b.Append(true)
		for i := 0; i < b.NumField(); i++ {
			appendRandom(t, rng, b.FieldBuilder(i), 0.3)
		}
	case *array.BinaryDictionaryBuilder:
		if err := b.AppendString(fmt.Sprintf("v%d", rng.IntN(5))); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no random values for %T", b)
	}
}

// TestColumnarMatchesPerValue writes the same random batches (random
// schemas over all flat types and some nested ones, nullable or not, with
// and without nulls, arrays at non-zero offsets) through the columnar path
// and through the per-value reference paths: the files must be identical,
// byte for byte, and hold every row.
func TestColumnarMatchesPerValue(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 8
	}
	for round := range rounds {
		seed := uint64(round)*7919 + 1
		rng := rand.New(rand.NewPCG(seed, 42))
		s := randomSchema(rng)
		nullRate := []float64{0, 0.05, 0.5, 1}[rng.IntN(4)]
		var batches []arrow.Record
		total := 0
		for range 1 + rng.IntN(6) {
			n := 1 + rng.IntN(700)
			batches = append(batches, randomRecord(t, rng, s, n, nullRate))
			total += n
		}
		cfg := map[string]string{
			KeyPartitionBy:   partitionByNone,
			KeyFlushSize:     fmt.Sprint(1 + rng.IntN(2*total)),
			KeyRowGroupRows:  fmt.Sprint(1 + rng.IntN(total)),
			KeyRowGroupBytes: fmt.Sprint(1 + rng.IntN(100_000)),
			KeyCompression:   []string{"snappy", "none", "zstd"}[rng.IntN(3)],
		}
		pageSize := 512 + rng.IntN(8192) // small, so that chunks cut pages
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			var dirs []string
			for _, path := range []writePath{pathColumnar, pathValues, pathRowByRow} {
				dir := t.TempDir()
				cfg[KeyPath] = dir
				writeThrough(t, path, pageSize, cfg, batches)
				dirs = append(dirs, dir)
			}
			files := sameFiles(t, dirs)
			rows := 0
			for _, f := range files {
				rows += len(readFile(t, filepath.Join(dirs[0], f)))
			}
			if rows != total {
				t.Errorf("%d rows in %d files; want %d", rows, len(files), total)
			}
		})
		for _, b := range batches {
			b.Release()
		}
	}
}

// writeThrough writes the batches, offsets from 0, through one write path
// and commits every segment.
func writeThrough(t *testing.T, path writePath, pageSize int, cfg map[string]string, batches []arrow.Record) {
	t.Helper()
	s := openSink(t, cfg)
	s.cfg.file.path = path
	s.cfg.file.writerOptions = append(s.cfg.file.writerOptions, pq.PageBufferSize(pageSize))
	tp := connectors.TopicPartition{Topic: "diff", Partition: 3}
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	offset := int64(0)
	ctx := context.Background()
	for _, rec := range batches {
		recs := make([]connectors.Record, rec.NumRows())
		for i := range recs {
			// Sizes vary, so row groups cut by bytes at varying rows.
			recs[i] = connectors.Record{Topic: tp.Topic, Partition: tp.Partition, Offset: offset + int64(i),
				Value: make([]byte, (i*37)%250), Timestamp: at}
		}
		b := connectors.ColumnBatch{TopicPartition: tp, Columns: rec, Records: recs}
		if err := s.WriteColumns(ctx, []connectors.ColumnBatch{b}); err != nil {
			t.Fatalf("path %d: WriteColumns: %v", path, err)
		}
		offset += rec.NumRows()
	}
	if st := s.parts[tp]; st != nil && st.open {
		if err := s.commitSegment(tp, st); err != nil {
			t.Fatalf("path %d: commit: %v", path, err)
		}
	}
}

// sameFiles asserts that the directories hold the same files with the same
// bytes, and returns their names.
func sameFiles(t *testing.T, dirs []string) []string {
	t.Helper()
	list := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := list(dirs[0])
	if len(want) == 0 {
		t.Fatal("no files written")
	}
	for _, dir := range dirs[1:] {
		got := list(dir)
		if len(got) != len(want) {
			t.Fatalf("%d files through one path, %d through another: %v vs %v", len(want), len(got), keys(want), keys(got))
		}
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("%s differs between write paths (%d vs %d bytes)", name, len(b), len(got[name]))
			}
		}
	}
	return keys(want)
}

func TestUnpackBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bitmap := make([]byte, 64)
	for i := range bitmap {
		bitmap[i] = byte(rng.IntN(256))
	}
	var dst []bool
	for range 500 {
		off := rng.IntN(200)
		n := rng.IntN(8*len(bitmap) - off)
		dst = unpackBits(dst, bitmap, off, n)
		if len(dst) != n {
			t.Fatalf("off %d n %d: %d booleans", off, n, len(dst))
		}
		for i, got := range dst {
			if want := bitmap[(off+i)/8]>>((off+i)%8)&1 == 1; got != want {
				t.Fatalf("off %d n %d: bit %d = %v; want %v", off, n, i, got, want)
			}
		}
	}
}

// TestColumnarRefusesInconsistentArrays: an Arrow array whose offsets do
// not fit its data is an error for the batch, not a panic.
func TestColumnarRefusesInconsistentArrays(t *testing.T) {
	offsets := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{0, 5, 3}))
	data := memory.NewBufferBytes([]byte("abcde"))
	bad := array.NewStringData(array.NewData(arrow.BinaryTypes.String, 2, []*memory.Buffer{nil, offsets, data}, nil, 0, 0))
	negative := array.NewBinaryData(array.NewData(arrow.BinaryTypes.Binary, 2, []*memory.Buffer{nil,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes([]int32{-4, 2, 3})), data}, nil, 0, 0))
	// (Arrow itself refuses arrays with too few values, or a last offset
	// past the data.)
	for name, arr := range map[string]arrow.Array{"decreasing offsets": bad, "negative offset": negative} {
		t.Run(name, func(t *testing.T) {
			s := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arr.DataType()}}, nil)
			rec := array.NewRecord(s, []arrow.Array{arr}, 2)
			defer rec.Release()
			sink := openSink(t, map[string]string{KeyPath: t.TempDir(), KeyPartitionBy: partitionByNone})
			tp := connectors.TopicPartition{Topic: "bad", Partition: 0}
			recs := []connectors.Record{{Offset: 0, Value: []byte("{}")}, {Offset: 1, Value: []byte("{}")}}
			err := sink.WriteColumns(context.Background(), []connectors.ColumnBatch{{TopicPartition: tp, Columns: rec, Records: recs}})
			if err == nil {
				t.Fatal("WriteColumns accepted an inconsistent array")
			}
			t.Log(err)
		})
	}
}
