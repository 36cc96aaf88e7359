package bench

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// The benchmarks run the reference workload (100-byte records, one
// producer, acks=1) with b.N records, so `go test -bench` reports ns per
// record plus records/s and latency percentiles:
//
//	make build && SLUICE_BIN=$PWD/bin/sluice go test -run '^$' -bench . -benchtime 2000000x ./bench/
//
// `sluice bench produce --target both` runs the same comparison from the
// command line with more options.

func benchRun(b *testing.B, t Target, workload string) {
	cfg := DefaultConfig()
	cfg.Workload = workload
	cfg.Count = int64(b.N)
	cfg.Warmup = 0
	if workload == E2E {
		cfg.Rate = 500_000 // fixed: about half of what this machine peaks at
	}
	b.ResetTimer()
	rs, err := Run(context.Background(), t, cfg)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	r := rs[len(rs)-1]
	b.ReportMetric(r.RecordsPerSec, "records/s")
	b.ReportMetric(r.MBPerSec, "MB/s")
	if l := r.Latency; l != nil {
		b.ReportMetric(l.P50, "p50-ms")
		b.ReportMetric(l.P99, "p99-ms")
		b.ReportMetric(l.P999, "p999-ms")
	}
}

func sluiceTarget(b *testing.B) Target {
	return NewKafkaTarget("sluice", kgo.SeedBrokers(brokertest.Start(b).Addr))
}

func jetStreamTarget(b *testing.B) Target {
	s, err := StartNATSServer("127.0.0.1:0", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Shutdown)
	return NewJetStreamTarget(s.URL(), DefaultJetStreamOptions())
}

func BenchmarkSluiceProduce(b *testing.B)    { benchRun(b, sluiceTarget(b), Produce) }
func BenchmarkJetStreamProduce(b *testing.B) { benchRun(b, jetStreamTarget(b), Produce) }
func BenchmarkSluiceConsume(b *testing.B)    { benchRun(b, sluiceTarget(b), Consume) }
func BenchmarkJetStreamConsume(b *testing.B) { benchRun(b, jetStreamTarget(b), Consume) }
func BenchmarkSluiceE2E(b *testing.B)        { benchRun(b, sluiceTarget(b), E2E) }
