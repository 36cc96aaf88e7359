package worker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// sourceTask polls a Source, produces its records and stores their
// positions once the log has acknowledged them.
//
// It is a pipeline: while one batch's records are in flight the task polls
// the next. Batches complete in order: a batch's positions are written to
// the offsets topic only once it and every batch before it are fully
// acknowledged, and Source.Commit is called, in order, once those position
// writes are acknowledged too. A crash therefore never stores a position
// past a record that is not in the log; at worst records after the last
// stored position are sent again (at-least-once). One position write is in
// flight at a time; batches acknowledged meanwhile share the next one (see
// source_positions.go).
type sourceTask struct {
	*task
	src    connectors.Source
	cl     *kgo.Client
	adm    *kadm.Client
	topics map[string]bool // topics known to exist
	label  []string

	mu      sync.Mutex
	batches []*sourceBatch // produced, in poll order
	ready   chan struct{}  // signalled when a batch or position write completes
	// acked are batches the log has, in order, whose positions wait for
	// the next position write; writing is the position write in flight.
	acked   []*sourceBatch
	writing *positionWrite
	// spare holds record slices of acknowledged batches for reuse, so a
	// busy source does not allocate (and zero) one per batch.
	spare [][]kgo.Record

	lastTopic string // the last destination topic checked to exist
}

// sourceBatch tracks one Poll's records through the pipeline.
type sourceBatch struct {
	start     time.Time
	records   []kgo.Record // what is produced: one allocation per batch
	count     int          // records in the batch
	pending   int          // records not yet acknowledged
	failed    []produceFailure
	positions []connectors.Position
}

// produceFailure is a record the log did not take.
type produceFailure struct {
	topic string
	err   error
}

// promise is the produce promise of every record of the batch.
func (t *sourceTask) promise(b *sourceBatch) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		t.mu.Lock()
		if err != nil {
			b.failed = append(b.failed, produceFailure{r.Topic, err})
		}
		b.pending--
		done := b.pending == 0
		if done {
			// The client is done with the records: keep the slice.
			if len(t.spare) < maxSpareBatches {
				t.spare = append(t.spare, b.records)
			}
			b.records = nil
		}
		t.mu.Unlock()
		if done {
			t.signal()
		}
	}
}

func (t *sourceTask) signal() {
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// run runs the task as the worker's exactly.once.source.support says:
// with transactions (source_txn.go) or at-least-once.
func (t *sourceTask) run(ctx context.Context) error {
	e := &t.env
	t.label = []string{e.connector, strconv.Itoa(e.id)}
	t.ready = make(chan struct{}, 1)
	switch e.w.cfg.ExactlyOnceSourceSupport {
	case ExactlyOnceEnabled:
		return t.runExactlyOnce(ctx)
	case ExactlyOncePreparing:
		// A worker still running this task with transactions (rolling
		// change) must not commit once this at-least-once instance runs.
		if err := e.policy.do(ctx, func() error { return t.fence(ctx) }); err != nil {
			return e.fail("fence transactional instances", err)
		}
	}
	return t.runAtLeastOnce(ctx)
}

// runAtLeastOnce is the pipelined at-least-once task described on
// sourceTask.
func (t *sourceTask) runAtLeastOnce(ctx context.Context) error {
	e := &t.env
	w := e.w
	var committed connectors.Positions
	if err := e.policy.do(ctx, func() error {
		var err error
		committed, err = w.store.readPositions(ctx, e.connector)
		return kafkaRetriable(err)
	}); err != nil {
		return e.fail("read source positions", err)
	}
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(w.cfg.SourceMaxInFlightRecords),
		kgo.MaxBufferedBytes(w.cfg.SourceMaxInFlightBytes),
		kgo.ClientID("connect-"+e.connector+"-"+strconv.Itoa(e.id)),
	)...)
	if err != nil {
		return e.fail("kafka client", err)
	}
	t.cl, t.adm = cl, kadm.NewClient(cl)
	defer cl.Close()

	// Close must run even if Open failed, and after the last Commit.
	closeSrc, err := t.openSource(ctx, committed)
	defer closeSrc()
	if err != nil {
		return err
	}
	t.setState(StateRunning, "")

	// Records already polled are delivered even when stopping: a graceful
	// stop finishes the pipeline, bounded by the shutdown timeout.
	dctx, dcancel := deliveryContext(ctx, w.cfg.ShutdownTimeout)
	defer dcancel()
	for ctx.Err() == nil {
		if err := t.advance(dctx); err != nil {
			return err
		}
		var drainErr error
		ok := t.waitResumed(ctx, func() {
			// Paused: finish and commit what is in flight first.
			drainErr = t.drain(dctx)
		})
		if drainErr != nil {
			return drainErr
		}
		if !ok {
			break
		}
		recs, err := t.poll(ctx)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			w.m.sourcePolled.WithLabelValues(t.label...).Add(float64(len(recs)))
			if err := t.produce(dctx, recs); err != nil {
				return err
			}
		}
	}
	if err := t.drain(dctx); err != nil {
		return err
	}
	return ctx.Err()
}

// drain waits for everything in flight, stores and commits it.
func (t *sourceTask) drain(ctx context.Context) error {
	for {
		if err := t.advance(ctx); err != nil {
			return err
		}
		t.mu.Lock()
		idle := t.idle()
		t.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-t.ready:
		case <-ctx.Done():
			return t.env.fail("stop", fmt.Errorf("records still in flight after the shutdown timeout: %w", ctx.Err()))
		}
	}
}

// poll calls Source.Poll with retries. The poll is woken early (its context
// cancelled) when a batch completes, so commits are not held up by a Poll
// waiting for data.
func (t *sourceTask) poll(ctx context.Context) ([]connectors.Record, error) {
	e := &t.env
	t.mu.Lock()
	busy := !t.idle()
	t.mu.Unlock()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if busy {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-t.ready:
				cancel() // the loop's next advance does the work
			case <-stop:
			}
		}()
	}
	var recs []connectors.Record
	err := e.policy.do(pctx, func() error {
		var err error
		recs, err = t.src.Poll(pctx)
		return err
	})
	if err != nil && pctx.Err() != nil {
		return recs, nil // woken or stopping: not a failure
	}
	if err != nil {
		return nil, e.fail("poll", err)
	}
	return recs, nil
}

// produce sends a batch's records without waiting for them. The client
// bounds what is in flight (Config.SourceMaxInFlightRecords and
// SourceMaxInFlightBytes): when the log falls behind, Produce blocks and so
// does the next Poll.
func (t *sourceTask) produce(ctx context.Context, recs []connectors.Record) error {
	e := &t.env
	w := e.w
	defaultTopic := e.cfg.String(KeyTopic)
	b := &sourceBatch{start: time.Now(), count: len(recs), pending: len(recs), records: t.recordSlice(len(recs))}
	for i := range recs {
		kr := &b.records[i]
		if err := toKgo(kr, &recs[i], defaultTopic, w.schemas); err != nil {
			return e.fail(fmt.Sprintf("record %d: schema", i), err)
		}
		if kr.Topic == "" {
			return e.fail("produce", fmt.Errorf("record has no topic and the connector sets no %q", KeyTopic))
		}
		if err := t.ensureTopic(ctx, kr.Topic); err != nil {
			return err
		}
	}
	b.positions = latestPositions(recs)
	t.mu.Lock()
	t.batches = append(t.batches, b)
	t.mu.Unlock()
	promise := t.promise(b)
	for i := range b.records {
		t.cl.Produce(ctx, &b.records[i], promise)
	}
	return nil
}

// maxSpareBatches bounds the record slices kept for reuse.
const maxSpareBatches = 4

// recordSlice returns a slice of n records to produce from, reusing one of
// an acknowledged batch when it is large enough.
func (t *sourceTask) recordSlice(n int) []kgo.Record {
	t.mu.Lock()
	var s []kgo.Record
	if k := len(t.spare); k > 0 {
		s = t.spare[k-1]
		t.spare = t.spare[:k-1]
	}
	t.mu.Unlock()
	if cap(s) < n {
		return make([]kgo.Record, n)
	}
	if len(s) > n {
		clear(s[n:]) // let go of what the old records point to
	}
	return s[:n]
}

// ensureTopic creates a destination topic the first time the task sees it,
// with topic.creation.default.* settings, unless it exists.
func (t *sourceTask) ensureTopic(ctx context.Context, topic string) error {
	if topic == t.lastTopic {
		return nil
	}
	if t.topics[topic] {
		t.lastTopic = topic
		return nil
	}
	e := &t.env
	err := e.policy.do(ctx, func() error {
		err := ensureTopic(ctx, t.adm, topic, int32(e.cfg.Int(KeyTopicPartitions)), int16(e.cfg.Int(KeyTopicRepl)), nil)
		return kafkaRetriable(err)
	})
	if err != nil {
		return e.fail("create topic", err)
	}
	if t.topics == nil {
		t.topics = map[string]bool{}
	}
	t.topics[topic] = true
	return nil
}

// deliveryContext is not cancelled when ctx is; it ends timeout after ctx
// does, so a stopping task can finish its in-flight work.
func deliveryContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(timeout, cancel)
		context.AfterFunc(dctx, func() { t.Stop() })
	})
	return dctx, func() { stop(); cancel() }
}

// openSource creates the task's source and opens it after positions. The
// returned close must run (deferred) even when opening failed.
func (t *sourceTask) openSource(ctx context.Context, positions connectors.Positions) (closeSrc func(), err error) {
	e := &t.env
	w := e.w
	t.src = e.plugin.NewSource()
	info := connectors.TaskInfo{Connector: e.connector, Task: e.id, Logger: e.log, Metrics: w.m.plugins}
	closeSrc = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
		defer cancel()
		if err := t.src.Close(cctx); err != nil {
			e.log.Warn("source close", "err", err)
		}
	}
	if err := e.policy.do(ctx, func() error { return t.src.Open(ctx, info, e.cfg, positions) }); err != nil {
		return closeSrc, e.fail("open source", err)
	}
	return closeSrc, nil
}
