package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStreamTarget runs the workloads against NATS JetStream: one stream on
// file storage with one subject per partition, async publishes with acks,
// and an ordered (ack-less) consumer — the closest JetStream equivalents of
// a Kafka topic, an acks=1 producer and a group-less consumer.
type JetStreamTarget struct {
	url  string
	opts JetStreamOptions

	stream   string
	subjects []string
}

// JetStreamOptions tune the JetStream client where its best settings differ
// from Kafka's.
type JetStreamOptions struct {
	// MaxPending caps unacknowledged async publishes per producer; 0 uses
	// Config.MaxPending. nats.go's default of 4000 measured best here: larger
	// windows only add queueing in the server.
	MaxPending int
}

// DefaultJetStreamOptions are the settings `sluice bench` uses.
func DefaultJetStreamOptions() JetStreamOptions { return JetStreamOptions{MaxPending: 4000} }

// NewJetStreamTarget returns a target for the NATS server at url.
func NewJetStreamTarget(url string, opts JetStreamOptions) *JetStreamTarget {
	return &JetStreamTarget{url: url, opts: opts}
}

// Name implements Target.
func (j *JetStreamTarget) Name() string { return "jetstream" }

func (j *JetStreamTarget) connect() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(j.url, nats.Name("sluice-bench"), nats.Timeout(10*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", j.url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// Setup creates a fresh file-storage stream with one subject per partition.
func (j *JetStreamTarget) Setup(ctx context.Context, cfg Config) error {
	nc, js, err := j.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	id := time.Now().UnixNano()
	j.stream = fmt.Sprintf("SLUICE_BENCH_%d", id)
	j.subjects = make([]string, cfg.Partitions)
	for i := range j.subjects {
		j.subjects[i] = fmt.Sprintf("sluicebench.%d.%d", id, i)
	}
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:      j.stream,
		Subjects:  []string{fmt.Sprintf("sluicebench.%d.*", id)},
		Storage:   jetstream.FileStorage,
		Replicas:  max(1, cfg.Replication),
		Retention: jetstream.LimitsPolicy,
		Discard:   jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", j.stream, err)
	}
	return nil
}

// Teardown deletes the run's stream.
func (j *JetStreamTarget) Teardown(ctx context.Context) error {
	if j.stream == "" {
		return nil
	}
	nc, js, err := j.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	err = js.DeleteStream(ctx, j.stream)
	j.stream = ""
	return err
}

// Notes says which settings JetStream has no counterpart for.
func (j *JetStreamTarget) Notes(cfg Config) []string {
	var n []string
	if c := strings.ToLower(cfg.Compression); c != "" && c != "none" {
		n = append(n, "JetStream clients do not compress batches; --compression ignored")
	}
	if cfg.Linger > 0 || cfg.BatchBytes != DefaultConfig().BatchBytes {
		n = append(n, "nats.go batches writes itself; --linger and --batch-bytes ignored")
	}
	if a := strings.ToLower(cfg.Acks); (a == "all" || a == "-1") && cfg.Replication <= 1 {
		n = append(n, "single-replica stream: acks=all and acks=1 are the same publish ack")
	}
	if cfg.Acks == "0" {
		n = append(n, "acks=0 is a core NATS publish into the stream's subject, without a publish ack")
	}
	return n
}

// NewProducer implements Target with one connection per producer.
func (j *JetStreamTarget) NewProducer(_ context.Context, cfg Config, onAck AckFunc) (Producer, error) {
	nc, err := nats.Connect(j.url, nats.Name("sluice-bench-producer"), nats.Timeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", j.url, err)
	}
	pending := j.opts.MaxPending
	if pending <= 0 {
		pending = cfg.MaxPending
	}
	if pending <= 0 {
		pending = 4000 // nats.go's default
	}
	p := &jsProducer{subjects: j.subjects, noAck: cfg.Acks == "0", onAck: onAck, sent: map[*nats.Msg]time.Time{}}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(pending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			p.acked(m, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			p.acked(m, err)
		}),
	)
	if err != nil {
		nc.Close()
		return nil, err
	}
	p.nc, p.js = nc, js
	return p, nil
}

type jsProducer struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	subjects []string
	noAck    bool
	onAck    AckFunc
	next     int

	mu   sync.Mutex
	sent map[*nats.Msg]time.Time // in flight: message → send time
}

// acked reports a publish ack (or error) with the message's send time.
func (p *jsProducer) acked(m *nats.Msg, err error) {
	p.mu.Lock()
	sent, ok := p.sent[m]
	delete(p.sent, m)
	p.mu.Unlock()
	if ok {
		p.onAck(m.Data, sent, err)
	}
}

func (p *jsProducer) Send(ctx context.Context, payload []byte, sent time.Time) error {
	subj := p.subjects[p.next]
	p.next = (p.next + 1) % len(p.subjects)
	if p.noAck {
		if err := p.nc.Publish(subj, payload); err != nil {
			return err
		}
		p.onAck(payload, sent, nil) // the client copied the payload
		return nil
	}
	msg := &nats.Msg{Subject: subj, Data: payload}
	p.mu.Lock()
	p.sent[msg] = sent
	p.mu.Unlock()
	for {
		_, err := p.js.PublishMsgAsync(msg)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) || ctx.Err() != nil {
			p.mu.Lock()
			delete(p.sent, msg)
			p.mu.Unlock()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// The window of unacknowledged publishes was full for the stall
		// wait: try again, as a kgo producer blocks on MaxBufferedRecords.
	}
}

func (p *jsProducer) Flush(ctx context.Context) error {
	if p.noAck {
		return p.nc.FlushWithContext(ctx)
	}
	select {
	case <-p.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *jsProducer) Close() { p.nc.Close() }

// NewConsumer implements Target with an ordered consumer from the start.
func (j *JetStreamTarget) NewConsumer(ctx context.Context, _ Config) (Consumer, error) {
	nc, js, err := j.connect()
	if err != nil {
		return nil, err
	}
	cons, err := js.OrderedConsumer(ctx, j.stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("ordered consumer on %s: %w", j.stream, err)
	}
	return &jsConsumer{nc: nc, cons: cons}, nil
}

type jsConsumer struct {
	nc   *nats.Conn
	cons jetstream.Consumer
}

func (c *jsConsumer) Run(ctx context.Context, fn func([]byte) bool) error {
	var (
		stopped  atomic.Bool
		done     = make(chan struct{})
		doneOnce sync.Once
	)
	cc, err := c.cons.Consume(func(m jetstream.Msg) {
		if stopped.Load() {
			return
		}
		if !fn(m.Data()) {
			stopped.Store(true)
			doneOnce.Do(func() { close(done) })
		}
	}, jetstream.PullMaxMessages(10_000))
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-done:
	}
	stopped.Store(true)
	cc.Stop()
	<-cc.Closed()
	return nil
}

func (c *jsConsumer) Close() { c.nc.Close() }
