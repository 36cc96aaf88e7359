package compat

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// codecs are the batch compressions Kafka clients use.
var codecs = []string{"gzip", "snappy", "lz4", "zstd"}

// TestCompressionAcrossClients has every client produce batches with every
// codec, and two other decoders (franz-go, and librdkafka through kcat)
// read them back exactly: the broker stores and serves each batch as sent.
func TestCompressionAcrossClients(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve and real clients")
	}
	b := brokertest.Start(t)
	kcat, kcatErr := exec.LookPath("kcat")
	pythonOK := exec.Command(systemPython, "-c", "import confluent_kafka").Run() == nil

	producers := map[string]func(t *testing.T, topic, codec string, records []kv){
		"franz-go": func(t *testing.T, topic, codec string, records []kv) {
			c := map[string]kgo.CompressionCodec{"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
				"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}[codec]
			cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			rs := make([]*kgo.Record, len(records))
			for i, r := range records {
				rs[i] = kgo.KeyStringRecord(r.Key, r.Value)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Fatalf("kgo %s: %v", codec, err)
			}
		},
		"sarama": func(t *testing.T, topic, codec string, records []kv) {
			cfg := saramaConfig()
			cfg.Producer.Compression = map[string]sarama.CompressionCodec{"gzip": sarama.CompressionGZIP,
				"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}[codec]
			cfg.Producer.Flush.Messages = len(records) // one compressed batch
			cfg.Producer.Flush.Frequency = 50 * time.Millisecond
			p, err := sarama.NewSyncProducer([]string{b.Addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			msgs := make([]*sarama.ProducerMessage, len(records))
			for i, r := range records {
				msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
			}
			if err := p.SendMessages(msgs); err != nil {
				t.Fatalf("sarama %s: %v", codec, err)
			}
		},
	}
	if kcatErr == nil {
		producers["kcat"] = func(t *testing.T, topic, codec string, records []kv) {
			runTool(t, lines(records), kcat, "-b", b.Addr, "-P", "-t", topic, "-K", ":", "-z", codec, "-X", "linger.ms=20")
		}
	} else {
		t.Logf("kcat not installed: its producer and reader are left out (%v)", kcatErr)
	}
	if pythonOK {
		producers["confluent-kafka"] = func(t *testing.T, topic, codec string, records []kv) {
			runTool(t, lines(records), systemPython, confluentScript(), "produce", b.Addr, topic, codec)
		}
	} else {
		t.Logf("%s with confluent_kafka not available: its producer is left out", systemPython)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	for name, produce := range producers {
		for _, codec := range codecs {
			t.Run(name+"/"+codec, func(t *testing.T) {
				topic := fmt.Sprintf("codec-%s-%s", name, codec)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
					t.Fatalf("create %s: %v %v", topic, err, resp.Err)
				}
				want := make([]kv, 40)
				for i := range want {
					want[i] = kv{fmt.Sprintf("k%02d", i%7), fmt.Sprintf("%s-%s-%02d-%s", name, codec, i, strings.Repeat("x", 50))}
				}
				produce(t, topic, codec, want)

				got := readAllKgo(t, b.Addr, topic, len(want))
				if strings.Join(kvStrings(got), " ") != strings.Join(kvStrings(want), " ") {
					t.Fatalf("franz-go read back %d records, want the %d produced in order", len(got), len(want))
				}
				if kcatErr == nil {
					out, err := exec.Command(kcat, "-b", b.Addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k:%s\n").Output()
					if err != nil {
						t.Fatalf("kcat read %s: %v", topic, err)
					}
					if string(out) != lines(want) {
						t.Fatalf("kcat read back:\n%s\nwant:\n%s", out, lines(want))
					}
				}
			})
		}
	}
}

// readAllKgo reads n records of a one-partition topic from the start.
func readAllKgo(t *testing.T, addr, topic string, n int) []kv {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []kv
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d of %d records before the timeout", topic, len(got), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("read %s: %v", topic, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, kv{string(r.Key), string(r.Value)}) })
	}
	return got
}

func kvStrings(rs []kv) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}
