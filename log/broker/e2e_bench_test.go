package broker_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkEndToEndLatency produces b.N 100-byte records at a fixed rate
// (acks=1, no linger) and measures produce-to-consume latency with an HDR
// histogram; it reports p50/p99/p999 in microseconds. Run:
//
//	go test ./log/broker -run '^$' -bench EndToEnd -benchtime 100000x
func BenchmarkEndToEndLatency(b *testing.B) {
	const rate = 50000 // records/s
	br := startInProcess(b)
	ctx := context.Background()
	p, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.DefaultProduceTopic("e2e"), kgo.ProducerLinger(0),
		kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if _, err := kadm.NewClient(p).CreateTopic(ctx, 1, 1, nil, "e2e"); err != nil {
		b.Fatal(err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("e2e"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	hist := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	ack := hdrhistogram.New(1, int64(10*time.Second/time.Microsecond), 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		got := 0
		for got < b.N {
			fs := c.PollFetches(ctx)
			now := time.Now().UnixNano()
			fs.EachRecord(func(r *kgo.Record) {
				sent := int64(binary.BigEndian.Uint64(r.Value))
				_ = hist.RecordValue((now - sent) / 1000)
				got++
			})
		}
	}()
	b.ResetTimer()
	interval := time.Second / rate
	next := time.Now()
	for i := 0; i < b.N; i++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		v := make([]byte, 100)
		binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
		sent := time.Now()
		p.Produce(ctx, &kgo.Record{Value: v}, func(*kgo.Record, error) { _ = ack.RecordValue(time.Since(sent).Microseconds()) })
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(hist.ValueAtQuantile(50)), "p50-µs")
	b.ReportMetric(float64(hist.ValueAtQuantile(99)), "p99-µs")
	b.ReportMetric(float64(hist.ValueAtQuantile(99.9)), "p999-µs")
	b.ReportMetric(float64(ack.ValueAtQuantile(50)), "ack-p50-µs")
	b.ReportMetric(float64(ack.ValueAtQuantile(99)), "ack-p99-µs")
}
