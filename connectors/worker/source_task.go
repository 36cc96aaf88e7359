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
type sourceTask struct {
	*task
	src    connectors.Source
	cl     *kgo.Client
	adm    *kadm.Client
	topic  string
	topics map[string]bool // topics known to exist
}

func (t *sourceTask) run(ctx context.Context) error {
	e := &t.env
	w := e.w
	var committed connectors.Positions
	if err := e.policy.do(ctx, func() error {
		var err error
		committed, err = w.store.readPositions(ctx, e.connector)
		return connectors.Retriable(err)
	}); err != nil {
		return e.fail("read source positions", err)
	}
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ClientID("connect-"+e.connector+"-"+strconv.Itoa(e.id)),
	)...)
	if err != nil {
		return e.fail("kafka client", err)
	}
	t.cl, t.adm = cl, kadm.NewClient(cl)
	defer cl.Close()

	t.src = e.plugin.NewSource()
	info := connectors.TaskInfo{Connector: e.connector, Task: e.id, Logger: e.log}
	// Close must run even if Open failed, and after the last Commit.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
		defer cancel()
		if err := t.src.Close(cctx); err != nil {
			e.log.Warn("source close", "err", err)
		}
	}()
	if err := e.policy.do(ctx, func() error { return t.src.Open(ctx, info, e.cfg, committed) }); err != nil {
		return e.fail("open source", err)
	}
	t.setState(StateRunning, "")

	for ctx.Err() == nil {
		if !t.waitResumed(ctx, nil) {
			break
		}
		var recs []connectors.Record
		err := e.policy.do(ctx, func() error {
			var err error
			recs, err = t.src.Poll(ctx)
			return err
		})
		if ctx.Err() != nil && len(recs) == 0 {
			break
		}
		if err != nil && ctx.Err() == nil {
			return e.fail("poll", err)
		}
		if len(recs) == 0 {
			continue
		}
		w.m.sourcePolled.WithLabelValues(e.connector, strconv.Itoa(e.id)).Add(float64(len(recs)))
		// Deliver even when stopping: a graceful stop finishes the batch it
		// has, bounded by the shutdown timeout.
		dctx, cancel := deliveryContext(ctx, w.cfg.ShutdownTimeout)
		err = t.deliver(dctx, recs)
		cancel()
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// deliveryContext is not cancelled when ctx is; it ends timeout after ctx
// does, so a stopping task can finish its in-flight batch.
func deliveryContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(timeout, cancel)
		context.AfterFunc(dctx, func() { t.Stop() })
	})
	return dctx, func() { stop(); cancel() }
}

// deliver produces recs, waits for every acknowledgement, stores the latest
// position per source partition and tells the source.
func (t *sourceTask) deliver(ctx context.Context, recs []connectors.Record) error {
	e := &t.env
	w := e.w
	start := time.Now()
	krs := make([]*kgo.Record, len(recs))
	for i := range recs {
		kr, err := toKgo(&recs[i], t.topicFor(), w.schemas)
		if err != nil {
			return e.fail(fmt.Sprintf("record %d: schema", i), err)
		}
		if kr.Topic == "" {
			return e.fail("produce", fmt.Errorf("record has no topic and the connector sets no %q", KeyTopic))
		}
		if err := t.ensureTopic(ctx, kr.Topic); err != nil {
			return err
		}
		krs[i] = kr
	}
	errs := make([]error, len(krs))
	var wg sync.WaitGroup
	wg.Add(len(krs))
	for i, kr := range krs {
		t.cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			errs[i] = err
			wg.Done()
		})
	}
	wg.Wait()
	tolerate := e.cfg.String(KeyTolerance) == "all"
	written := 0
	for i, err := range errs {
		if err == nil {
			written++
			continue
		}
		if !tolerate || ctx.Err() != nil {
			return e.fail(fmt.Sprintf("produce to %s", krs[i].Topic), err)
		}
		w.m.skipped.WithLabelValues(e.connector, strconv.Itoa(e.id)).Inc()
		e.log.Warn("source record skipped: produce failed (errors.tolerance=all)", "topic", krs[i].Topic, "err", err)
	}
	w.m.sourceWritten.WithLabelValues(e.connector, strconv.Itoa(e.id)).Add(float64(written))

	// Latest position per source partition, in record order.
	latest := map[string]int{}
	var order []string
	for i := range recs {
		p := recs[i].Position
		if p.IsZero() {
			continue
		}
		if _, ok := latest[p.Partition]; !ok {
			order = append(order, p.Partition)
		}
		latest[p.Partition] = i
	}
	if len(order) > 0 {
		positions := make([]connectors.Position, len(order))
		for i, part := range order {
			positions[i] = recs[latest[part]].Position
		}
		label := []string{e.connector, strconv.Itoa(e.id)}
		if err := e.policy.do(ctx, func() error { return w.store.writePositions(ctx, e.connector, positions) }); err != nil {
			w.m.commits.WithLabelValues(append(label, "error")...).Inc()
			return e.fail("store source positions", err)
		}
		w.m.commits.WithLabelValues(append(label, "ok")...).Inc()
		if err := e.policy.do(ctx, func() error { return t.src.Commit(ctx, positions) }); err != nil {
			return e.fail("source commit", err)
		}
	}
	w.m.batchSeconds.WithLabelValues(e.connector, "source").Observe(time.Since(start).Seconds())
	return nil
}

func (t *sourceTask) topicFor() string { return t.env.cfg.String(KeyTopic) }

// ensureTopic creates a destination topic the first time the task sees it,
// with topic.creation.default.* settings, unless it exists.
func (t *sourceTask) ensureTopic(ctx context.Context, topic string) error {
	if t.topics[topic] {
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
