package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/recpool"
)

// KafkaTarget benchmarks any Kafka-protocol cluster through franz-go.
type KafkaTarget struct {
	name string
	opts []kgo.Opt // connection options: seeds, TLS, SASL

	topic string
}

// NewKafkaTarget returns a target named name (used in results) that
// connects with opts (at least kgo.SeedBrokers).
func NewKafkaTarget(name string, opts ...kgo.Opt) *KafkaTarget {
	return &KafkaTarget{name: name, opts: opts}
}

// Name implements Target.
func (k *KafkaTarget) Name() string { return k.name }

// Topic is the topic the current run writes to.
func (k *KafkaTarget) Topic() string { return k.topic }

// Setup creates a fresh topic and waits until every partition has a leader.
func (k *KafkaTarget) Setup(ctx context.Context, cfg Config) error {
	cl, err := kgo.NewClient(k.opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	k.topic = fmt.Sprintf("sluice-bench-%d", time.Now().UnixNano())
	resp, err := adm.CreateTopic(ctx, int32(cfg.Partitions), int16(cfg.Replication), nil, k.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", k.topic, err)
	}
	for {
		details, err := adm.ListTopics(ctx, k.topic)
		if err == nil {
			d := details[k.topic]
			ready := d.Err == nil && len(d.Partitions) == cfg.Partitions
			for _, p := range d.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s has no leaders: %w", k.topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Teardown deletes the run's topic.
func (k *KafkaTarget) Teardown(ctx context.Context) error {
	if k.topic == "" {
		return nil
	}
	cl, err := kgo.NewClient(k.opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = kadm.NewClient(cl).DeleteTopic(ctx, k.topic)
	k.topic = ""
	return err
}

// Notes implements Target; Kafka semantics are the reference.
func (k *KafkaTarget) Notes(Config) []string { return nil }

// producerOpts maps the run's settings to franz-go producer options.
func producerOpts(cfg Config) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	switch strings.ToLower(cfg.Acks) {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("acks %q", cfg.Acks)
	}
	codec := map[string]kgo.CompressionCodec{
		"": kgo.NoCompression(), "none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}[strings.ToLower(cfg.Compression)]
	opts = append(opts, kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(cfg.Linger))
	if cfg.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(cfg.BatchBytes)))
	}
	if cfg.MaxPending > 0 {
		opts = append(opts, kgo.MaxBufferedRecords(cfg.MaxPending))
	}
	if cfg.MaxInFlight > 0 {
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInFlight))
	}
	return opts, nil
}

// NewProducer implements Target with one kgo client per producer.
func (k *KafkaTarget) NewProducer(_ context.Context, cfg Config, onAck AckFunc) (Producer, error) {
	popts, err := producerOpts(cfg)
	if err != nil {
		return nil, err
	}
	opts := append(append([]kgo.Opt{}, k.opts...), popts...)
	opts = append(opts, kgo.DefaultProduceTopic(k.topic))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kafkaProducer{cl: cl, onAck: onAck}, nil
}

type kafkaProducer struct {
	cl    *kgo.Client
	onAck AckFunc
	free  recordStack // records whose promise ran, for reuse
}

func (p *kafkaProducer) Send(ctx context.Context, payload []byte, sent time.Time) error {
	r := p.free.pop()
	r.Value = payload
	r.Timestamp = sent // also saves kgo a clock read per record
	p.cl.Produce(ctx, r, p.promise)
	return nil
}

// promise is one method value for every record: no closure per record.
func (p *kafkaProducer) promise(r *kgo.Record, err error) {
	p.onAck(r.Value, r.Timestamp, err)
	p.free.push(r)
}

// recordStack recycles kgo records between the producing goroutine and
// kgo's promise goroutine. The producer takes records from a private slice
// and refills it by swapping with the shared one only when it runs dry, so
// the two goroutines meet on the mutex about once per batch, not per record
// (a sync.Pool misses its per-P caches on every such cross-goroutine
// hand-off; a per-record mutex is contended).
type recordStack struct {
	local []*kgo.Record // producer goroutine only

	mu     sync.Mutex
	shared []*kgo.Record
}

// pop is called by the one goroutine that calls Send.
func (s *recordStack) pop() *kgo.Record {
	if len(s.local) == 0 {
		s.mu.Lock()
		s.local, s.shared = s.shared, s.local[:0]
		s.mu.Unlock()
		if len(s.local) == 0 {
			return new(kgo.Record)
		}
	}
	r := s.local[len(s.local)-1]
	s.local = s.local[:len(s.local)-1]
	return r
}

func (s *recordStack) push(r *kgo.Record) {
	*r = kgo.Record{}
	s.mu.Lock()
	s.shared = append(s.shared, r)
	s.mu.Unlock()
}

func (p *kafkaProducer) Flush(ctx context.Context) error { return p.cl.Flush(ctx) }
func (p *kafkaProducer) Close()                          { p.cl.Close() }

// NewConsumer implements Target: a group-less consumer of every partition
// from the start, as kafka-consumer-perf-test reads.
func (k *KafkaTarget) NewConsumer(_ context.Context, _ Config) (Consumer, error) {
	opts := append(append([]kgo.Opt{}, k.opts...),
		kgo.ConsumeTopics(k.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxPartitionBytes(8<<20),
		kgo.WithPools(&recpool.Records{}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &kafkaConsumer{cl: cl}, nil
}

type kafkaConsumer struct{ cl *kgo.Client }

func (c *kafkaConsumer) Run(ctx context.Context, fn func([]byte) bool) error {
	for {
		fetches := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.Canceled) {
				return fmt.Errorf("fetch %s[%d]: %w", fe.Topic, fe.Partition, fe.Err)
			}
		}
		for it := fetches.RecordIter(); !it.Done(); {
			r := it.Next()
			more := fn(r.Value)
			r.Recycle() // fn keeps nothing of the value
			if !more {
				return nil
			}
		}
	}
}

func (c *kafkaConsumer) Close() { c.cl.Close() }
