package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/state"
)

// loggedStore copies every Put and Delete to the store's changelog
// partition. Range deletes are not logged: only windowed stores use them,
// to drop expired segments, and their changelogs expire data by retention.
type loggedStore struct {
	state.KeyValueStore
	app       *App
	topic     string
	partition int32
	acked     *ackedOffset
}

// ackedOffset is the highest changelog offset the broker acknowledged.
type ackedOffset struct {
	mu  sync.Mutex
	off int64
}

func (a *ackedOffset) set(o int64) {
	a.mu.Lock()
	if o > a.off {
		a.off = o
	}
	a.mu.Unlock()
}

func (a *ackedOffset) get() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.off
}

func (s *loggedStore) Put(key, value []byte) error {
	if err := s.KeyValueStore.Put(key, value); err != nil {
		return err
	}
	v := append(make([]byte, 0, len(value)), value...)
	s.send(key, v)
	return nil
}

func (s *loggedStore) Delete(key []byte) error {
	if err := s.KeyValueStore.Delete(key); err != nil {
		return err
	}
	s.send(key, nil)
	return nil
}

func (s *loggedStore) send(key, value []byte) {
	r := &kgo.Record{Topic: s.topic, Partition: s.partition, Key: append([]byte(nil), key...), Value: value, Context: changelogCtx}
	acked := s.acked
	s.app.txnProduced++
	s.app.client.Produce(s.app.runCtx, r, func(r *kgo.Record, err error) {
		if err != nil {
			s.app.setProduceErr(fmt.Errorf("changelog %s/%d: %w", r.Topic, r.Partition, err))
			return
		}
		acked.set(r.Offset)
	})
}

// changelogCtx marks changelog records for the partitioner: they go to the
// partition of their task, not where their key hashes.
var changelogCtx = context.WithValue(context.Background(), changelogKey{}, true)

type changelogKey struct{}

// partitioner hashes keys like Kafka's default partitioner (murmur2), so
// topics written by the engine are partitioned the way Java clients and
// Kafka Streams expect, except changelog records, which carry their
// partition.
type partitioner struct{ def kgo.Partitioner }

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return topicPartitioner{def: p.def.ForTopic(t)}
}

type topicPartitioner struct{ def kgo.TopicPartitioner }

func (p topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Context == changelogCtx || p.def.RequiresConsistency(r)
}

func (p topicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Context == changelogCtx {
		return int(r.Partition)
	}
	return p.def.Partition(r, n)
}

// endOffset is the last stable offset of a partition (ListOffsets
// read_committed): the end of what a read_committed consumer can read, which
// is the high watermark when no transaction is open on the partition. A
// just-created topic may take a moment to show up in metadata, so it
// retries briefly.
func (a *App) endOffset(ctx context.Context, topic string, partition int32) (int64, error) {
	var last error
	for attempt := 0; attempt < 50; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		ends, err := a.admin.ListCommittedOffsets(ctx, topic)
		if err != nil {
			last = err
			continue
		}
		lo, ok := ends.Lookup(topic, partition)
		if !ok {
			last = fmt.Errorf("partition not in metadata yet")
			continue
		}
		if lo.Err != nil {
			last = lo.Err
			continue
		}
		return lo.Offset, nil
	}
	return 0, fmt.Errorf("end offset of %s/%d: %w", topic, partition, last)
}

// restorePollWait bounds one poll of a restore: when it passes with
// nothing read, the restore looks at the end offset again.
const restorePollWait = time.Second

// restore applies the changelog partition from offset from to its end to
// store, and returns the offset of the last record read (from-1 if none).
//
// It reads read_committed, so records of aborted transactions are never
// applied, and up to the last stable offset. Transaction markers are
// kept (not applied) so that a changelog ending with a marker is known to
// be read to its end. The records just before the end may also belong to
// an aborted transaction, which read_committed skips; then nothing more
// arrives, and the restore asks for the end again until a later record
// (the next marker) makes it to the end.
func (a *App) restore(ctx context.Context, store state.KeyValueStore, topic string, partition int32, from int64, task, name string) (int64, error) {
	end, err := a.endOffset(ctx, topic, partition)
	if err != nil {
		return 0, err
	}
	last := from - 1
	if from >= end {
		return end - 1, nil
	}
	total := end - from
	a.metrics.restoreTotal.WithLabelValues(task, name).Set(float64(total))
	done := a.metrics.restoreDone.WithLabelValues(task, name)
	done.Set(0)
	restored := a.metrics.restoredRecords.WithLabelValues(name)
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.WithLogger(nil),
	}, a.cfg.ClientOptions...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("restore %s: client: %w", topic, err)
	}
	defer cl.Close()
	a.log.Info("restoring store", "task", task, "store", name, "changelog", topic, "partition", partition, "from", from, "records", total)
	start := time.Now()
	n := 0
	for last < end-1 {
		pctx, cancel := context.WithTimeout(ctx, restorePollWait)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) {
				ferr = fmt.Errorf("restore %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return 0, ferr
		}
		var aerr error
		read := 0
		fs.EachRecord(func(r *kgo.Record) {
			read++
			if aerr != nil {
				return
			}
			last = r.Offset
			if r.Attrs.IsControl() {
				return
			}
			if r.Value == nil {
				aerr = store.Delete(r.Key)
			} else {
				aerr = store.Put(r.Key, r.Value)
			}
			n++
		})
		if aerr != nil {
			return 0, fmt.Errorf("restore %s/%d: apply: %w", topic, partition, aerr)
		}
		done.Set(float64(last - from + 1))
		if read == 0 {
			if end, err = a.endOffset(ctx, topic, partition); err != nil {
				return 0, err
			}
		}
	}
	restored.Add(float64(n))
	a.log.Info("restored store", "task", task, "store", name, "records", n, "took", time.Since(start).Round(time.Millisecond))
	return last, nil
}
