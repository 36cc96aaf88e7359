package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// store reads and writes the worker's internal topics.
type store struct {
	cfg *Config
	cl  *kgo.Client // producer for configs, offsets and status
	adm *kadm.Client
}

func (c *Config) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	opts = append(opts, extra...)
	return append(opts, c.ClientOpts...)
}

func newStore(cfg *Config) (*store, error) {
	cl, err := kgo.NewClient(cfg.clientOpts(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, fmt.Errorf("worker: kafka client: %w", err)
	}
	return &store{cfg: cfg, cl: cl, adm: kadm.NewClient(cl)}, nil
}

func (s *store) close() { s.cl.Close() }

// ensureTopic creates topic as compacted (or with the given configs) unless
// it exists.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16, configs map[string]*string) error {
	resp, err := adm.CreateTopic(ctx, partitions, rf, configs, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

func (s *store) ensureTopics(ctx context.Context) error {
	compact := "compact"
	cfg := map[string]*string{"cleanup.policy": &compact}
	for _, t := range []struct {
		name string
		n    int32
	}{{s.cfg.ConfigTopic, 1}, {s.cfg.OffsetTopic, s.cfg.OffsetTopicPartitions}, {s.cfg.StatusTopic, s.cfg.StatusTopicPartitions}} {
		if err := ensureTopic(ctx, s.adm, t.name, t.n, s.cfg.ReplicationFactor, cfg); err != nil {
			return err
		}
	}
	return nil
}

// produce writes one record and waits for the log to acknowledge it.
func (s *store) produce(ctx context.Context, topic string, key, value []byte) (int64, error) {
	r := &kgo.Record{Topic: topic, Key: key, Value: value}
	if err := s.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return 0, fmt.Errorf("write %s: %w", topic, err)
	}
	return r.Offset, nil
}

// readToEnd calls fn for every record of topic from the start up to the end
// offsets as they were when it began.
//
// It reads committed data only (read_committed): the positions an
// exactly-once source task wrote in a transaction that was aborted, or is
// still open, are never handed back, so a restarted task resumes exactly
// after the records that are visible. The ends are high watermarks, not
// last stable offsets: a transaction that committed after another one
// began is past the last stable offset, and its positions must be read, so
// the read waits for transactions open below the high watermark to end
// (they end within the transaction timeout). Control records (transaction
// markers) are kept, unseen by fn, because the last record below an end
// may be one; an aborted record is not returned at all, but its marker
// follows it.
func (s *store) readToEnd(ctx context.Context, topic string, fn func(*kgo.Record)) error {
	ends, err := s.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(s.cfg.clientOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s[%d]: %w", t, p, err) })
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end && !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}

// offsetKey is the offsets-topic key of a connector's source partition:
// ["<connector>","<partition>"], like Kafka Connect's.
func offsetKey(connector, partition string) []byte {
	b, _ := json.Marshal([]string{connector, partition})
	return b
}

// readPositions loads the latest stored position of every source partition
// of connector.
func (s *store) readPositions(ctx context.Context, connector string) (connectors.Positions, error) {
	pos := connectors.Positions{}
	err := s.readToEnd(ctx, s.cfg.OffsetTopic, func(r *kgo.Record) {
		var key []string
		if json.Unmarshal(r.Key, &key) != nil || len(key) != 2 || key[0] != connector {
			return
		}
		if r.Value == nil {
			delete(pos, key[1])
			return
		}
		pos[key[1]] = json.RawMessage(r.Value)
	})
	return pos, err
}

// writePositionsAsync stores positions without waiting; done is called
// once with the first error (nil when all are acknowledged). Records with
// the same key go to the same partition in order, so a later write never
// lands before an earlier one.
func (s *store) writePositionsAsync(ctx context.Context, connector string, positions []connectors.Position, done func(error)) {
	var mu sync.Mutex
	left := len(positions)
	var first error
	for _, p := range positions {
		v := []byte(p.Offset)
		if len(v) == 0 {
			v = []byte("null")
		}
		s.cl.Produce(ctx, &kgo.Record{Topic: s.cfg.OffsetTopic, Key: offsetKey(connector, p.Partition), Value: v}, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = fmt.Errorf("store source positions: %w", err)
			}
			left--
			last := left == 0
			mu.Unlock()
			if last {
				done(first)
			}
		})
	}
}

// statusValue is a status-topic record, as Kafka Connect writes them.
type statusValue struct {
	State      string `json:"state"`
	Trace      string `json:"trace,omitempty"`
	WorkerID   string `json:"worker_id"`
	Generation int    `json:"generation"`
}

// writeStatus records a state change; best effort, it does not wait.
func (s *store) writeStatus(key string, v *statusValue) {
	var val []byte
	if v != nil {
		val, _ = json.Marshal(v)
	}
	s.cl.Produce(context.Background(), &kgo.Record{Topic: s.cfg.StatusTopic, Key: []byte(key), Value: val},
		func(_ *kgo.Record, err error) {
			if err != nil {
				s.cfg.Logger.Warn("write connector status", "key", key, "err", err)
			}
		})
}
