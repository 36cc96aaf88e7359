package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkTransactions: one franz-go transactional producer committing
// transactions of 1, 100 and 1000 100-byte records to one partition of an
// in-process broker (each commit: AddPartitionsToTxn, produce, EndTxn with
// two __transaction_state writes and a marker). b.N counts records. Run:
//
//	go test ./log/broker -run '^$' -bench Transactions -benchtime 20000x
func BenchmarkTransactions(b *testing.B) {
	for _, size := range []struct {
		name string
		n    int
	}{{"records=1", 1}, {"records=100", 100}, {"records=1000", 1000}} {
		b.Run(size.name, func(b *testing.B) {
			br := startInProcess(b)
			cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"), kgo.TransactionalID("bench"),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchMaxBytes(1<<20))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
				b.Fatal(err)
			}
			value := make([]byte, 100)
			var failed atomic.Int64
			done := func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
				}
			}
			b.SetBytes(100)
			b.ResetTimer()
			start := time.Now()
			txns := 0
			for i := 0; i < b.N; {
				if err := cl.BeginTransaction(); err != nil {
					b.Fatal(err)
				}
				for j := 0; j < size.n && i < b.N; j, i = j+1, i+1 {
					cl.Produce(ctx, &kgo.Record{Value: value}, done)
				}
				if err := cl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					b.Fatal(err)
				}
				txns++
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d records failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(txns)/elapsed.Seconds(), "txns/s")
		})
	}
}

// BenchmarkFetchReadCommitted: BenchmarkFetch for a read_committed
// consumer over records committed in transactions of 1000, with an aborted
// transaction of 100 after every ten. Run:
//
//	go test ./log/broker -run '^$' -bench FetchReadCommitted -benchtime 1000000x
func BenchmarkFetchReadCommitted(b *testing.B) {
	br := startInProcess(b)
	p, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("bench"), kgo.TransactionalID("bench"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(1<<20), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(p).CreateTopic(ctx, 1, 1, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, 100)
	txn := func(n int, commit bool) {
		if err := p.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		for j := 0; j < n; j++ {
			p.Produce(ctx, &kgo.Record{Value: value}, nil)
		}
		if err := p.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			b.Fatal(err)
		}
	}
	for i, k := 0, 0; i < b.N; k++ {
		n := min(1000, b.N-i)
		txn(n, true)
		i += n
		if k%10 == 9 {
			txn(100, false)
		}
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("bench"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
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
	if got != b.N {
		b.Fatalf("read %d committed records, want %d", got, b.N)
	}
	b.ReportMetric(float64(got)/time.Since(start).Seconds(), "records/s")
}
