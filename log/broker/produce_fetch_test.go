package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceFetchAcksAndCompression produces with every acks setting and
// codec through franz-go and reads everything back in order, byte for byte.
func TestProduceFetchAcksAndCompression(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	acks := map[string]kgo.Acks{"0": kgo.NoAck(), "1": kgo.LeaderAck(), "all": kgo.AllISRAcks()}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	const n = 300
	for an, a := range acks {
		for cn, codec := range codecs {
			t.Run("acks="+an+"/"+cn, func(t *testing.T) {
				topic := "t-" + an + "-" + cn
				createTopic(t, adm, topic, 1, nil)
				opts := []kgo.Opt{kgo.RequiredAcks(a), kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic)}
				if an != "all" {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				p := newClient(t, b.Addr, opts...)
				for i := 0; i < n; i++ {
					// Compressible values so codecs really compress.
					v := fmt.Sprintf("value-%04d-%s", i, "abcdefghijabcdefghijabcdefghij")
					p.Produce(testCtx(t), &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(v)}, func(_ *kgo.Record, err error) {
						if err != nil {
							t.Errorf("produce: %v", err)
						}
					})
				}
				if err := p.Flush(testCtx(t)); err != nil {
					t.Fatal(err)
				}
				c := newClient(t, b.Addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				recs := consumeN(t, c, n)
				for i, r := range recs {
					if r.Offset != int64(i) || string(r.Key) != fmt.Sprint(i) || string(r.Value) != fmt.Sprintf("value-%04d-%s", i, "abcdefghijabcdefghijabcdefghij") {
						t.Fatalf("record %d: offset %d key %q value %q", i, r.Offset, r.Key, r.Value)
					}
				}
			})
		}
	}
}

// TestLongPollWakesOnProduce: a consumer parked in a long-poll fetch gets a
// record produced after it started waiting, and the broker keeps answering
// other requests on the same connection meanwhile.
func TestLongPollWakesOnProduce(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "lp", 2, nil)
	c := newClient(t, b.Addr, kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(20*time.Second))
	got := make(chan *kgo.Record, 1)
	go func() {
		for {
			fs := c.PollFetches(testCtx(t))
			if fs.IsClientClosed() || testCtx(t).Err() != nil {
				return
			}
			if recs := fs.Records(); len(recs) > 0 {
				got <- recs[0]
				return
			}
		}
	}()
	// While the consumer's fetch is parked, metadata and list-offset
	// requests still get answered.
	time.Sleep(300 * time.Millisecond)
	if _, err := adm.ListEndOffsets(testCtx(t), "lp"); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, b.Addr, kgo.DefaultProduceTopic("lp"))
	if err := p.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if string(r.Value) != "wake" {
			t.Fatalf("got %q", r.Value)
		}
	case <-testCtx(t).Done():
		t.Fatal("long-polling consumer never received the record")
	}
}
