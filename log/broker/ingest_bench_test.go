package broker_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// plainBatch builds an uncompressed, non-idempotent RecordBatch of n
// records with valueSize-byte values.
func plainBatch(n, valueSize int) []byte {
	value := make([]byte, valueSize)
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: value}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		recs = r.AppendTo(recs)
	}
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(n), Records: recs}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// BenchmarkBrokerIngest measures the broker alone: pre-encoded Produce
// requests (one ~1 MiB batch of 100-byte records each, acks=1) pipelined on
// one connection, so no client-side record encoding is in the numbers. Run:
//
//	go test ./log/broker -run '^$' -bench BrokerIngest -benchtime 400x
func BenchmarkBrokerIngest(b *testing.B) {
	br := startInProcess(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	// Bounded disk use whatever b.N is: retention drops old segments.
	bounded := map[string]*string{"retention.bytes": kadm.StringPtr("268435456"), "segment.bytes": kadm.StringPtr("67108864")}
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, bounded, "ingest"); err != nil {
		b.Fatal(err)
	}
	const perBatch = 8000
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = 1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "ingest"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = plainBatch(perBatch, 100)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)

	nc, err := net.Dial("tcp", br.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(nc, 64<<10)
		var hdr [4]byte
		buf := make([]byte, 4096)
		for i := 0; i < b.N; i++ {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				done <- err
				return
			}
			n := int(binary.BigEndian.Uint32(hdr[:]))
			if n > len(buf) {
				buf = make([]byte, n)
			}
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.SetBytes(int64(len(rp.Records)))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := nc.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*perBatch)/time.Since(start).Seconds(), "records/s")
}
