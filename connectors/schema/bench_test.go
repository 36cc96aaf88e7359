package schema

import (
	"fmt"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

// Benchmarks of the JSON ↔ Arrow conversions connectors run per record:
//
//	go test -run '^$' -bench . -benchtime 2s ./connectors/schema

func benchRows(n int) [][]byte {
	rows := make([][]byte, n)
	for i := range rows {
		rows[i] = []byte(fmt.Sprintf(`{"device":"sensor-%d","seq":%d,"temp":%d.%d,"ok":true,"at":"2024-05-01T10:%02d:%02d.123456Z","amount":"%d.%02d"}`,
			i%100, i, 20+i%10, i%10, (i/60)%60, i%60, i, i%100))
	}
	return rows
}

var benchSchema = arrow.NewSchema([]arrow.Field{
	{Name: "device", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "seq", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "temp", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "at", Type: TimestampUTC, Nullable: true},
	{Name: "amount", Type: &arrow.Decimal128Type{Precision: 18, Scale: 2}, Nullable: true},
}, nil)

// BenchmarkAppendJSON: typed rows into an Arrow batch (a ColumnSink's input).
func BenchmarkAppendJSON(b *testing.B) {
	rows := benchRows(4096)
	rb := NewRecordBuilder(memory.DefaultAllocator, benchSchema)
	defer rb.Release()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rb.AppendJSON(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
		if rb.Len() == 4096 {
			rb.NewRecord().Release()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkInfer: schema inference over the same rows.
func BenchmarkInfer(b *testing.B) {
	rows := benchRows(4096)
	b.ReportAllocs()
	b.ResetTimer()
	var in Inferrer
	for i := 0; i < b.N; i++ {
		if err := in.Observe(rows[i%len(rows)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRowJSON: an Arrow batch back to JSON rows (a source of columns).
func BenchmarkRowJSON(b *testing.B) {
	rows := benchRows(4096)
	rb := NewRecordBuilder(memory.DefaultAllocator, benchSchema)
	defer rb.Release()
	for _, r := range rows {
		if err := rb.AppendJSON(r); err != nil {
			b.Fatal(err)
		}
	}
	rec := rb.NewRecord()
	defer rec.Release()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		buf, err = RowJSON(buf[:0], rec, i%len(rows))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
