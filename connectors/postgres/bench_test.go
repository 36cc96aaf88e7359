package postgres

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/pgtest"
)

// BenchmarkSinkVsCopy measures the sink's insert throughput against a raw
// pgx CopyFrom of the same rows into a table of the same shape, in the same
// run and on the same throwaway cluster, alternating the two each iteration.
// The sink starts from records with JSON values (what it gets from a topic);
// CopyFrom starts from ready Go values, so the ratio includes everything the
// sink adds: JSON parsing, type handling, transactions.
//
//	go test -run '^$' -bench SinkVsCopy -benchtime 20x ./connectors/postgres/
//
// Reports rows/s for both and sink/copy as "ratio".
func BenchmarkSinkVsCopy(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  map[string]string
	}{
		{"insert", nil},
		{"upsert", map[string]string{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"}},
		{"exactly-once", map[string]string{"exactly.once": "true"}},
	} {
		b.Run(mode.name, func(b *testing.B) { benchSinkVsCopy(b, mode.cfg) })
	}
}

const benchBatch = 10000

func benchSinkVsCopy(b *testing.B, cfg map[string]string) {
	pg := pgtest.Start(b)
	ctx := context.Background()
	shape := `(id bigint PRIMARY KEY, sensor text, temp double precision, ok boolean, at timestamptz, site integer)`
	pg.Exec(b, `CREATE TABLE bench_sink `+shape)
	pg.Exec(b, `CREATE TABLE bench_copy `+shape)

	raw := map[string]string{"connection.url": pg.DSN(), "table.name.format": "bench_sink"}
	for k, v := range cfg {
		raw[k] = v
	}
	c, err := SinkSpec.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	s := NewSink()
	if err := s.Open(ctx, testTask("bench"), c); err != nil {
		b.Fatal(err)
	}
	defer s.Close(ctx)
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)

	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	makeBatch := func(iter int) ([]connectors.Record, [][]any) {
		recs := make([]connectors.Record, benchBatch)
		rows := make([][]any, benchBatch)
		for i := range recs {
			id := int64(iter*benchBatch + i)
			at := base.Add(time.Duration(id) * time.Millisecond)
			sensor := fmt.Sprintf("sensor-%04d", id%1000)
			temp := float64(id%400) / 10
			ok := id%7 != 0
			site := int32(id % 50)
			recs[i] = connectors.Record{Topic: "bench", Offset: id, Value: fmt.Appendf(nil,
				`{"id":%d,"sensor":%q,"temp":%g,"ok":%t,"at":%q,"site":%d}`, id, sensor, temp, ok, at.Format(time.RFC3339Nano), site)}
			rows[i] = []any{id, sensor, temp, ok, at, site}
		}
		return recs, rows
	}
	cols := []string{"id", "sensor", "temp", "ok", "at", "site"}

	// Warm up both paths (table metadata, staging tables, plans).
	warmRecs, warmRows := makeBatch(-1)
	mustWriteB(b, s, warmRecs)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_copy"}, cols, pgx.CopyFromRows(warmRows)); err != nil {
		b.Fatal(err)
	}

	var sinkTime, copyTime, sinkCPU, copyCPU time.Duration
	b.ResetTimer()
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		recs, rows := makeBatch(iter)
		runtime.GC() // the batch's garbage is not the sink's, nor CopyFrom's
		b.StartTimer()

		c0, t0 := processCPU(), time.Now()
		mustWriteB(b, s, recs)
		c1, t1 := processCPU(), time.Now()
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_copy"}, cols, pgx.CopyFromRows(rows)); err != nil {
			b.Fatal(err)
		}
		c2, t2 := processCPU(), time.Now()
		sinkTime += t1.Sub(t0)
		copyTime += t2.Sub(t1)
		sinkCPU += c1 - c0
		copyCPU += c2 - c1
	}
	b.StopTimer()
	n := float64(b.N * benchBatch)
	sinkRate := n / sinkTime.Seconds()
	copyRate := n / copyTime.Seconds()
	b.ReportMetric(sinkRate, "sink_rows/s")
	b.ReportMetric(copyRate, "copy_rows/s")
	b.ReportMetric(sinkRate/copyRate, "ratio")
	// The client-side CPU each path spends per row (this process only; the
	// server's work is the same for both).
	b.ReportMetric(float64(sinkCPU.Nanoseconds())/n, "sink_cpu_ns/row")
	b.ReportMetric(float64(copyCPU.Nanoseconds())/n, "copy_cpu_ns/row")
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func mustWriteB(b *testing.B, s *Sink, recs []connectors.Record) {
	if err := s.Write(context.Background(), recs); err != nil {
		b.Fatal(err)
	}
}
