package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/connectors"
)

// sinkTask consumes the connector's topics in its consumer group, hands
// batches to a Sink and commits the offsets the sink reports durable.
type sinkTask struct {
	*task
	sink connectors.Sink
	col  connectors.ColumnSink // nil unless the sink writes columns
	// reuse is the batch slice refilled for every Write when the sink
	// allows it (connectors.BatchReuser); nil otherwise.
	reuse []connectors.Record
	cl    *kgo.Client
	dlq   *deadLetters

	// mu serializes use of the sink between the task loop and the group's
	// rebalance callbacks.
	sinkMu      sync.Mutex
	written     connectors.Offsets // next offset after the last record handled, per partition
	committed   connectors.Offsets // last offsets committed to the group
	lastFlush   time.Time
	cbErr       error // a fatal error raised inside a rebalance callback
	inferred    map[connectors.TopicPartition]*inferredSchema
	fetchLogged map[string]time.Time
	// rebalanceWanted is set when the group wants to rebalance while the
	// task holds polled records (kgo.OnPartitionsCallbackBlocked).
	rebalanceWanted atomic.Bool
}

func (t *sinkTask) label() []string { return []string{t.env.connector, strconv.Itoa(t.env.id)} }

func (t *sinkTask) run(ctx context.Context) error {
	e := &t.env
	w := e.w
	t.written, t.committed = connectors.Offsets{}, connectors.Offsets{}
	t.sink = e.plugin.NewSink()
	t.col, _ = t.sink.(connectors.ColumnSink)
	info := connectors.TaskInfo{Connector: e.connector, Task: e.id, Logger: e.log, Metrics: w.m.plugins}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
		defer cancel()
		if err := t.sink.Close(cctx); err != nil {
			e.log.Warn("sink close", "err", err)
		}
	}()
	if err := e.policy.do(ctx, func() error { return t.sink.Open(ctx, info, e.cfg) }); err != nil {
		return e.fail("open sink", err)
	}
	t.dlq = newDeadLetters(e)
	defer t.dlq.close()

	reset := kgo.NewOffset().AtStart()
	if e.cfg.String(KeyAutoOffsetReset) == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	// Static membership: a worker that crashes and comes back takes its
	// partitions back at once instead of waiting out the session timeout.
	// A graceful stop leaves the group explicitly (below).
	instance := fmt.Sprintf("%s-%s-%d", w.cfg.WorkerID, e.connector, e.id)
	group := "connect-" + e.connector
	opts := []kgo.Opt{
		kgo.ConsumerGroup(group),
		kgo.InstanceID(instance),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ClientID("connect-" + e.connector + "-" + strconv.Itoa(e.id)),
		kgo.OnPartitionsAssigned(t.onAssigned),
		kgo.OnPartitionsRevoked(t.onRevoked),
		kgo.OnPartitionsLost(t.onLost),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { t.rebalanceWanted.Store(true) }),
	}
	if re := e.cfg.String(KeyTopicsRegex); re != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re))
	} else {
		opts = append(opts, kgo.ConsumeTopics(e.cfg.List(KeyTopics)...))
	}
	if _, ok := t.sink.(connectors.OffsetStore); ok {
		opts = append(opts, kgo.AdjustFetchOffsetsFn(t.adjustOffsets))
	}
	cl, err := kgo.NewClient(w.cfg.clientOpts(opts...)...)
	if err != nil {
		return e.fail("kafka client", err)
	}
	t.cl = cl
	defer func() {
		cl.AllowRebalance()
		cl.Close() // onRevoked flushes and commits
		w.leaveGroup(ctx, group, instance, e.log)
	}()
	t.setState(StateRunning, "")
	t.lastFlush = time.Now()
	maxPoll := int(e.cfg.Int(KeyMaxPollRecords))
	if br, ok := t.sink.(connectors.BatchReuser); ok && br.ReuseBatches() && t.col == nil {
		t.reuse = make([]connectors.Record, 0, min(maxPoll, maxReusedBatch))
	}

	for ctx.Err() == nil {
		if p, _ := t.pausedCh(); p {
			ok := t.waitResumed(ctx, func() {
				// Deliver what was consumed before the pause, then let
				// rebalances proceed while paused.
				t.sinkMu.Lock()
				err := t.flushCommit(ctx)
				t.sinkMu.Unlock()
				if err != nil {
					t.setCbErr(err)
				}
				cl.AllowRebalance()
			})
			if err := t.getCbErr(); err != nil {
				return err
			}
			if !ok {
				break
			}
		}
		// Take everything the client has buffered, so that it fetches the
		// next data while the sink writes this (it does not fetch again
		// for a partition until what it buffered is taken), and hand it to
		// the sink in batches of at most max.poll.records. What the client
		// buffers is bounded by its fetch limits (kgo.FetchMaxBytes,
		// kgo.FetchMaxPartitionBytes).
		pctx, cancel := context.WithTimeout(ctx, time.Until(t.lastFlush.Add(w.cfg.OffsetFlushInterval)))
		t.rebalanceWanted.Store(false)
		fetches := cl.PollFetches(pctx)
		cancel()
		if fetches.IsClientClosed() {
			break
		}
		if err := t.fetchError(fetches); err != nil {
			cl.AllowRebalance()
			return e.fail("consume", err)
		}
		err := t.deliverFetches(ctx, fetches, maxPoll)
		cl.AllowRebalance()
		if err != nil {
			return err
		}
		if err := t.getCbErr(); err != nil {
			return err
		}
	}
	// Graceful stop: make what was delivered durable and commit it.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
	defer cancel()
	t.sinkMu.Lock()
	err = t.flushCommit(sctx)
	t.sinkMu.Unlock()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// deliverFetches hands the polled records to the sink in batches of at
// most maxPoll, flushing and committing whenever the flush interval has
// passed. Everything polled is delivered, even when ctx ends (bounded by
// the shutdown timeout), so a stop never leaves polled records behind; but
// when the group wants to rebalance or the task is paused, the task stops
// between batches and rewinds the client to the first record not
// delivered, so a large poll never holds a rebalance or a pause up for
// long.
func (t *sinkTask) deliverFetches(ctx context.Context, fetches kgo.Fetches, maxPoll int) error {
	w := t.env.w
	n := 0
	var runs [][]*kgo.Record // each partition's records, in order
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) > 0 {
			runs = append(runs, p.Records)
			n += len(p.Records)
		}
	})
	dctx, dcancel := deliveryContext(ctx, w.cfg.ShutdownTimeout)
	defer dcancel()
	for {
		var batch []connectors.Record
		if k := min(n, maxPoll); k > 0 {
			if cap(t.reuse) >= k {
				batch = t.reuse[:k]
			} else {
				batch = make([]connectors.Record, k)
			}
			n -= k
			for i := range batch {
				fillFromKgo(&batch[i], runs[0][0], w.schemas)
				if runs[0] = runs[0][1:]; len(runs[0]) == 0 {
					runs = runs[1:]
				}
			}
			// Counted here, not at the poll: records given back by a
			// rewind are read again later.
			w.m.sinkRead.WithLabelValues(t.label()...).Add(float64(k))
		}
		t.sinkMu.Lock()
		err := t.deliver(dctx, batch)
		if err == nil && time.Since(t.lastFlush) >= w.cfg.OffsetFlushInterval {
			err = t.flushCommit(dctx)
		}
		t.sinkMu.Unlock()
		if err != nil || n == 0 {
			return err
		}
		if p, _ := t.pausedCh(); p || t.rebalanceWanted.Load() {
			t.rewind(runs, n)
			return nil
		}
	}
}

// maxReusedBatch caps the slice a sink task keeps for reuse; larger
// batches are allocated each time.
const maxReusedBatch = 1 << 16

// rewind sets the client's position of each partition in runs back to its
// first record, which was polled but not delivered. The caller then allows
// the rebalance: a partition the task keeps is consumed again from there; a
// partition it loses starts, for its new owner, at the committed offset,
// which covers only delivered records. The group cannot rebalance until
// the caller allows it, so the partitions are still the task's.
func (t *sinkTask) rewind(runs [][]*kgo.Record, n int) {
	to := map[string]map[int32]kgo.EpochOffset{}
	for _, run := range runs {
		r := run[0]
		if to[r.Topic] == nil {
			to[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		to[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
	}
	t.cl.SetOffsets(to)
	t.env.log.Info("rebalance or pause: returned polled records to the client", "records", n, "partitions", len(runs))
}

// fetchError returns the first fetch error that is not the poll timeout or
// a retriable condition kgo is already retrying.
func (t *sinkTask) fetchError(fs kgo.Fetches) error {
	var out error
	fs.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || out != nil {
			return
		}
		var ke *kerr.Error
		if errors.As(err, &ke) && !ke.Retriable {
			out = fmt.Errorf("%s[%d]: %w", topic, p, err)
			return
		}
		t.logFetchError(topic, p, err)
	})
	return out
}

// fetchLogEvery rate-limits the warning for a fetch error kgo keeps
// retrying (a topic that does not exist yet, a leader moving).
const fetchLogEvery = time.Minute

func (t *sinkTask) logFetchError(topic string, p int32, err error) {
	key := fmt.Sprintf("%s/%d/%v", topic, p, err)
	if time.Since(t.fetchLogged[key]) < fetchLogEvery {
		return
	}
	if t.fetchLogged == nil || len(t.fetchLogged) > 1000 {
		t.fetchLogged = map[string]time.Time{}
	}
	t.fetchLogged[key] = time.Now()
	t.env.log.Warn("fetch error (retrying)", "topic", topic, "partition", p, "err", err)
}

// leaveGroup removes a static member from its group (a static member's
// client does not leave on Close), so its partitions move without waiting
// for the session timeout.
func (w *Worker) leaveGroup(ctx context.Context, group, instance string, log *slog.Logger) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownTimeout)
	defer cancel()
	resp, err := w.store.adm.LeaveGroup(lctx, kadm.LeaveGroup(group).InstanceIDs(instance).Reason("connect task stopped"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil && !errors.Is(err, kerr.UnknownMemberID) {
		log.Warn("leave consumer group", "group", group, "instance", instance, "err", err)
	}
}

func (t *sinkTask) setCbErr(err error) {
	t.task.mu.Lock()
	defer t.task.mu.Unlock()
	if t.cbErr == nil {
		t.cbErr = err
	}
}

func (t *sinkTask) getCbErr() error {
	t.task.mu.Lock()
	defer t.task.mu.Unlock()
	return t.cbErr
}

// deliver hands batch to the sink (as rows or columns), routes refused
// records by errors.tolerance, and advances the written offsets. t.mu held.
func (t *sinkTask) deliver(ctx context.Context, batch []connectors.Record) error {
	if len(batch) == 0 {
		return nil
	}
	e := &t.env
	start := time.Now()
	var refused []refusal
	var err error
	if t.col != nil {
		refused, err = t.deliverColumns(ctx, batch)
	} else {
		refused, err = t.write(ctx, batch, nil)
	}
	if err != nil {
		return err
	}
	if err := t.tolerate(ctx, refused); err != nil {
		return err
	}
	for i := range batch {
		r := &batch[i]
		if i+1 < len(batch) && batch[i+1].Partition == r.Partition && batch[i+1].Topic == r.Topic {
			continue // not the last of its run of one partition
		}
		t.written[connectors.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Offset + 1
	}
	e.w.m.sinkPut.WithLabelValues(t.label()...).Add(float64(len(batch) - len(refused)))
	e.w.m.batchSeconds.WithLabelValues(e.connector, "sink").Observe(time.Since(start).Seconds())
	return nil
}

// refusal is a record the sink (or the worker's decoding for it) refused.
type refusal struct {
	rec connectors.Record
	err error
}

// write calls Sink.Write with retries. idx maps positions in rows to
// refusals' records (nil: identity).
func (t *sinkTask) write(ctx context.Context, rows []connectors.Record, _ []int) ([]refusal, error) {
	err := t.env.policy.do(ctx, func() error { return t.sink.Write(ctx, rows) })
	return t.refusals(rows, err, "write")
}

// refusals splits a Write/WriteColumns error into refused records (for
// *RecordErrors) or a task failure.
func (t *sinkTask) refusals(rows []connectors.Record, err error, what string) ([]refusal, error) {
	if err == nil {
		return nil, nil
	}
	var re *connectors.RecordErrors
	if !errors.As(err, &re) {
		return nil, t.env.fail("sink "+what, err)
	}
	out := make([]refusal, 0, len(*re))
	for _, r := range *re {
		if r.Index < 0 || r.Index >= len(rows) {
			return nil, t.env.fail("sink "+what, fmt.Errorf("sink refused record index %d of a batch of %d: %w", r.Index, len(rows), err))
		}
		out = append(out, refusal{rec: rows[r.Index], err: r.Err})
	}
	return out, nil
}

// tolerate applies errors.tolerance to refused records: fail the task
// (none), or log, count and dead-letter them (all).
func (t *sinkTask) tolerate(ctx context.Context, refused []refusal) error {
	if len(refused) == 0 {
		return nil
	}
	e := &t.env
	if e.cfg.String(KeyTolerance) != "all" {
		r := refused[0]
		return e.fail("sink", fmt.Errorf("record %s-%d@%d refused (errors.tolerance=none): %w", r.rec.Topic, r.rec.Partition, r.rec.Offset, r.err))
	}
	for _, r := range refused {
		e.w.m.skipped.WithLabelValues(t.label()...).Inc()
		if e.cfg.Bool(KeyLogEnable) {
			args := []any{"err", r.err}
			if e.cfg.Bool(KeyLogMessages) {
				args = append(args, "topic", r.rec.Topic, "partition", r.rec.Partition, "offset", r.rec.Offset)
			}
			e.log.Warn("record skipped (errors.tolerance=all)", args...)
		}
	}
	if !t.dlq.enabled() {
		return nil
	}
	if err := e.policy.do(ctx, func() error { return t.dlq.send(ctx, refused) }); err != nil {
		return e.fail("dead-letter queue", err)
	}
	e.w.m.deadLettered.WithLabelValues(t.label()...).Add(float64(len(refused)))
	return nil
}

// flushCommit asks the sink what is durable and commits it. t.mu held.
func (t *sinkTask) flushCommit(ctx context.Context) error {
	t.lastFlush = time.Now()
	if len(t.written) == 0 {
		return nil
	}
	e := &t.env
	written := make(connectors.Offsets, len(t.written))
	for tp, o := range t.written {
		written[tp] = o
	}
	var durable connectors.Offsets
	if err := e.policy.do(ctx, func() error {
		var err error
		durable, err = t.sink.Flush(ctx, written)
		return err
	}); err != nil {
		return e.fail("sink flush", err)
	}
	commit := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range durable {
		if _, mine := t.written[tp]; !mine || o <= t.committed[tp] {
			continue
		}
		if commit[tp.Topic] == nil {
			commit[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	if len(commit) == 0 {
		return nil
	}
	var cerr error
	t.cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && cerr == nil {
					cerr = fmt.Errorf("%s[%d]: %w", rt.Topic, rp.Partition, err)
				}
			}
		}
	})
	if cerr != nil {
		// Not fatal: the records are durable in the sink; the next commit
		// (or a redelivery after a rebalance) covers them.
		e.w.m.commits.WithLabelValues(append(t.label(), "error")...).Inc()
		e.log.Warn("offset commit failed", "err", cerr)
		return nil
	}
	e.w.m.commits.WithLabelValues(append(t.label(), "ok")...).Inc()
	for topic, ps := range commit {
		for p, o := range ps {
			t.committed[connectors.TopicPartition{Topic: topic, Partition: p}] = o.Offset
		}
	}
	return nil
}

func tps(m map[string][]int32) []connectors.TopicPartition {
	var out []connectors.TopicPartition
	for topic, ps := range m {
		for _, p := range ps {
			out = append(out, connectors.TopicPartition{Topic: topic, Partition: p})
		}
	}
	return out
}

func (t *sinkTask) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	pa, ok := t.sink.(connectors.PartitionAware)
	if !ok {
		return
	}
	t.sinkMu.Lock()
	defer t.sinkMu.Unlock()
	if err := t.env.policy.do(ctx, func() error { return pa.Assigned(ctx, tps(assigned)) }); err != nil {
		t.setCbErr(t.env.fail("sink partitions assigned", err))
	}
}

func (t *sinkTask) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	t.sinkMu.Lock()
	defer t.sinkMu.Unlock()
	if err := t.flushCommit(ctx); err != nil {
		t.setCbErr(err)
	}
	t.dropPartitions(ctx, revoked)
}

func (t *sinkTask) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	t.sinkMu.Lock()
	defer t.sinkMu.Unlock()
	t.env.log.Warn("partitions lost; uncommitted records will be redelivered to their new owner", "partitions", lost)
	t.dropPartitions(ctx, lost)
}

func (t *sinkTask) dropPartitions(ctx context.Context, gone map[string][]int32) {
	list := tps(gone)
	for _, tp := range list {
		delete(t.written, tp)
		delete(t.committed, tp)
		delete(t.inferred, tp)
	}
	if pa, ok := t.sink.(connectors.PartitionAware); ok && len(list) > 0 {
		if err := pa.Revoked(ctx, list); err != nil {
			t.env.log.Warn("sink partitions revoked", "err", err)
		}
	}
}

// adjustOffsets starts partitions where an OffsetStore sink says it is.
func (t *sinkTask) adjustOffsets(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	store := t.sink.(connectors.OffsetStore)
	var list []connectors.TopicPartition
	for topic, ps := range offsets {
		for p := range ps {
			list = append(list, connectors.TopicPartition{Topic: topic, Partition: p})
		}
	}
	t.sinkMu.Lock()
	defer t.sinkMu.Unlock()
	var stored connectors.Offsets
	if err := t.env.policy.do(ctx, func() error {
		var err error
		stored, err = store.StoredOffsets(ctx, list)
		return err
	}); err != nil {
		err = t.env.fail("sink stored offsets", err)
		t.setCbErr(err)
		return offsets, err
	}
	for tp, o := range stored {
		if ps, ok := offsets[tp.Topic]; ok {
			if _, ok := ps[tp.Partition]; ok {
				ps[tp.Partition] = kgo.NewOffset().At(o).WithEpoch(-1)
				t.committed[tp] = o
			}
		}
	}
	return offsets, nil
}
