package broker_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/log/broker"
)

// startInProcess runs a broker inside the test process (for benchmarks and
// profiles; integration tests use a real sluice serve process).
func startInProcess(tb testing.TB) *broker.Broker {
	tb.Helper()
	cfg := broker.DefaultConfig()
	cfg.DataDir = tb.TempDir()
	cfg.Listen = "127.0.0.1:0"
	b, err := broker.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// BenchmarkProduce: one franz-go producer, 100-byte records, acks=1, one
// partition, against an in-process broker. Run:
//
//	go test ./log/broker -run '^$' -bench Produce -benchtime 2000000x
func BenchmarkProduce(b *testing.B) {
	for _, acks := range []struct {
		name string
		acks kgo.Acks
	}{{"acks=1", kgo.LeaderAck()}, {"acks=all", kgo.AllISRAcks()}} {
		b.Run(acks.name, func(b *testing.B) {
			br := startInProcess(b)
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"),
				kgo.RequiredAcks(acks.acks), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, nil, "bench"); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			var failed atomic.Int64
			done := func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			ctx := context.Background()
			b.SetBytes(100)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, done)
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d records failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
		})
	}
}

// BenchmarkFetch: one franz-go consumer reading 100-byte records that are
// already in the log. Run:
//
//	go test ./log/broker -run '^$' -bench Fetch -benchtime 2000000x
func BenchmarkFetch(b *testing.B) {
	br := startInProcess(b)
	p, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"),
		kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(p).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	for i := 0; i < b.N; i++ {
		p.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.SetBytes(100)
	b.ResetTimer()
	start := time.Now()
	got := 0
	for got < b.N {
		fs := c.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			b.Fatal(err)
		}
		got += fs.NumRecords()
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "records/s")
}
