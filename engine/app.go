package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/recpool"
	"github.com/sluicehq/sluice/operators"
)

// App runs a topology as one instance of an application. Start as many
// instances (processes) with the same ApplicationID as you like: they share
// the tasks through a consumer group and take over each other's tasks, with
// their state, when one stops or dies.
type App struct {
	topo *operators.Topology
	cfg  Config
	log  *slog.Logger

	reg      *prometheus.Registry
	metrics  *metrics
	client   *kgo.Client
	admin    *kadm.Client
	plan     *plan
	runCtx   context.Context
	runStop  context.CancelFunc
	started  bool
	runMu    sync.Mutex
	assigned chan struct{}

	// mu guards the task maps; the poll loop holds it while processing,
	// the group callbacks while revoking and assigning.
	mu      sync.Mutex
	tasks   map[operators.TaskID]*taskState
	byTP    map[tp]*taskState
	pending map[operators.TaskID]bool

	errMu      sync.Mutex
	produceErr error
	fatalErr   error // from a group callback; stops the loop

	// Exactly-once state (see eos.go); the counters are guarded by mu.
	eos          bool
	txnID        string
	txnProduced  int  // records produced in the open transaction
	offsetsAdded bool // AddOffsetsToTxn sent in the open transaction
	aborts       int  // transactions aborted since the last commit

	in operators.InputRecord
}

type tp struct {
	topic     string
	partition int32
}

// New checks the configuration; it does no I/O.
func New(topo *operators.Topology, cfg Config) (*App, error) {
	if topo == nil {
		return nil, fmt.Errorf("%w: nil topology", ErrConfig)
	}
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	a := &App{topo: topo, cfg: cfg, log: cfg.Logger.With("app", cfg.ApplicationID),
		tasks: map[operators.TaskID]*taskState{}, byTP: map[tp]*taskState{}, pending: map[operators.TaskID]bool{},
		assigned: make(chan struct{}, 1), eos: cfg.Guarantee == ExactlyOnce}
	reg := cfg.Registerer
	if reg == nil {
		a.reg = prometheus.NewRegistry()
		reg = a.reg
	}
	a.metrics = newMetrics(reg, cfg.ApplicationID)
	return a, nil
}

// Gatherer returns the private metrics registry when Config.Registerer was
// nil (nil otherwise).
func (a *App) Gatherer() prometheus.Gatherer {
	if a.reg == nil {
		return nil
	}
	return a.reg
}

// Tasks lists the tasks this instance runs now.
func (a *App) Tasks() []operators.TaskID {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]operators.TaskID, 0, len(a.tasks))
	for id := range a.tasks {
		ids = append(ids, id)
	}
	sortTaskIDs(ids)
	return ids
}

// Assigned is signalled (non-blocking, coalesced) after each assignment the
// instance starts processing.
func (a *App) Assigned() <-chan struct{} { return a.assigned }

func sortTaskIDs(ids []operators.TaskID) {
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].SubTopology != ids[j].SubTopology {
			return ids[i].SubTopology < ids[j].SubTopology
		}
		return ids[i].Partition < ids[j].Partition
	})
}

// errOffsetCommit marks a failed offset commit: retried, not fatal.
var errOffsetCommit = errors.New("commit offsets")

// produceError is a failed produce; under exactly-once it aborts the
// transaction (errors.Is(err, errProduce)).
type produceError struct{ err error }

func (e *produceError) Error() string        { return e.err.Error() }
func (e *produceError) Unwrap() error        { return e.err }
func (e *produceError) Is(target error) bool { return target == errProduce }

func (a *App) setProduceErr(err error) {
	a.errMu.Lock()
	if a.produceErr == nil {
		a.produceErr = &produceError{err}
	}
	a.errMu.Unlock()
}

// resetProduceErr forgets a produce failure once its transaction is
// aborted (exactly-once only: at-least-once stops at the first one).
func (a *App) resetProduceErr() {
	a.errMu.Lock()
	a.produceErr = nil
	a.errMu.Unlock()
}

func (a *App) getProduceErr() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.produceErr
}

// Run creates internal topics, joins the group and processes until ctx is
// cancelled (then it commits, closes its tasks and leaves the group, and
// returns nil) or a task fails (then it returns the error without
// committing, so the records are processed again after a restart).
func (a *App) Run(ctx context.Context) error {
	a.runMu.Lock()
	if a.started {
		a.runMu.Unlock()
		return fmt.Errorf("%w: Run called twice", ErrConfig)
	}
	a.started = true
	a.runMu.Unlock()

	// runCtx outlives ctx a little: produce and commit calls made during
	// the graceful shutdown must not fail because ctx is done.
	a.runCtx, a.runStop = context.WithCancel(context.Background())
	defer a.runStop()

	base := append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOptions...)
	adminCl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer adminCl.Close()
	a.admin = kadm.NewClient(adminCl)
	if a.plan, err = makePlan(ctx, a.admin, a.topo, a.cfg.ApplicationID, a.cfg.ReplicationFactor); err != nil {
		return err
	}
	var topics []string
	for t := range a.plan.topicSub {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	bal := &taskBalancer{plan: a.plan, localTasks: a.localTasks}
	// Control records (transaction markers) are kept so that committed
	// positions move past them: a partition whose last record is a marker
	// then shows no lag, and ordered tasks see it caught up.
	opts := append([]kgo.Opt{
		kgo.KeepControlRecords(),
		kgo.SeedBrokers(a.cfg.Brokers...),
		kgo.ConsumerGroup(a.cfg.ApplicationID),
		kgo.ConsumeTopics(topics...),
		kgo.Balancers(bal),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(a.cfg.SessionTimeout),
		kgo.RebalanceTimeout(a.cfg.RebalanceTimeout),
		kgo.OnPartitionsAssigned(a.onAssigned),
		kgo.OnPartitionsRevoked(a.onRevoked),
		kgo.OnPartitionsLost(a.onLost),
		kgo.ProducerLinger(a.cfg.ProducerLinger),
		kgo.MaxBufferedRecords(a.cfg.MaxBufferedRecords),
		kgo.RecordPartitioner(partitioner{def: kgo.StickyKeyPartitioner(nil)}),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.AllowAutoTopicCreation(),
		// Fetched records are decoded into recycled slices: the loop
		// copies what it needs out of each record (processRecord) and
		// recycles it, which saves an allocation per record and the GC
		// work behind it.
		kgo.WithPools(&recpool.Records{}),
	}, a.cfg.ClientOptions...)
	if a.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(a.cfg.InstanceID))
	}
	if a.eos {
		id, release, err := a.transactionalID()
		if err != nil {
			return err
		}
		defer release()
		a.txnID = id
		opts = append(opts,
			kgo.TransactionalID(id),
			kgo.TransactionTimeout(a.cfg.TransactionTimeout),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if a.client, err = kgo.NewClient(opts...); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if a.eos {
		if err := a.initTransactions(ctx); err != nil {
			a.client.Close()
			return err
		}
	}
	a.log.Info("started", "sub_topologies", len(a.plan.subs), "topics", topics, "state_dir", a.cfg.StateDir, "guarantee", a.cfg.Guarantee)
	err = a.loop(ctx)
	a.shutdown(err)
	return err
}

func (a *App) loop(ctx context.Context) error {
	lastCommit := time.Now()
	pollWait := min(a.cfg.CommitInterval, 200*time.Millisecond)
	for {
		if ctx.Err() != nil {
			return nil
		}
		if err := a.getFatal(); err != nil {
			return err
		}
		pctx, cancel := context.WithTimeout(ctx, pollWait)
		fs := a.client.PollRecords(pctx, a.cfg.MaxPollRecords)
		cancel()
		if ctx.Err() != nil {
			a.client.AllowRebalance()
			return nil
		}
		err := a.processFetches(ctx, fs)
		if err == nil && time.Since(lastCommit) >= a.cfg.CommitInterval {
			// Commits use runCtx: a shutdown must not cut a commit
			// in half.
			err = a.commitAll(a.runCtx)
			lastCommit = time.Now()
			if errors.Is(err, errOffsetCommit) {
				a.log.Warn("offset commit failed; retrying at the next commit", "err", err)
				err = nil
			}
		}
		if err != nil && a.abortable(err) && ctx.Err() == nil {
			// Exactly-once: the transaction cannot commit. Abort it and
			// start the tasks again from the last commit, while the
			// rebalance is still blocked.
			a.mu.Lock()
			err = a.restartTasks(a.runCtx, err, nil)
			a.mu.Unlock()
		}
		a.client.AllowRebalance()
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, context.Canceled) {
				return nil // interrupted restore: shut down normally
			}
			return err
		}
	}
}

func (a *App) processFetches(ctx context.Context, fs kgo.Fetches) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.startPending(ctx); err != nil {
		return err
	}
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return
		}
		if errors.Is(err, kgo.ErrClientClosed) {
			ferr = err
			return
		}
		a.log.Warn("fetch error", "topic", t, "partition", p, "err", err)
	})
	if ferr != nil {
		return ferr
	}
	var perr error
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if perr != nil || len(p.Records) == 0 {
			return
		}
		ts := a.byTP[tp{p.Topic, p.Partition}]
		if ts == nil {
			return // revoked while buffered
		}
		if ts.queues == nil {
			perr = a.processPartition(ctx, ts, p)
			return
		}
		ts.enqueue(a, p)
	})
	if perr != nil {
		return perr
	}
	for _, ts := range a.tasks {
		if ts.queues != nil {
			if err := a.drainOrdered(ctx, ts); err != nil {
				return err
			}
		}
	}
	now := time.Now()
	for _, ts := range a.tasks {
		if err := ts.task.Punctuate(now); err != nil {
			return err
		}
		if ts.outN > 0 {
			ts.out.Add(float64(ts.outN))
			ts.outN = 0
		}
		if st := ts.task.StreamTime(); st != operators.NoTimestamp {
			ts.stream.Set(float64(st) / 1000)
		}
	}
	return a.getProduceErr()
}

// processRecord runs one input record through its task.
func (a *App) processRecord(ctx context.Context, ts *taskState, r *kgo.Record) error {
	in := &a.in
	in.Topic, in.Partition, in.Offset = r.Topic, r.Partition, r.Offset
	in.Key, in.Value, in.Timestamp = r.Key, r.Value, r.Timestamp.UnixMilli()
	in.Headers = in.Headers[:0]
	for _, h := range r.Headers {
		in.Headers = append(in.Headers, operators.Header{Key: h.Key, Value: h.Value})
	}
	if len(in.Headers) == 0 {
		in.Headers = nil
	}
	if err := ts.task.Process(in); err != nil {
		if !errors.Is(err, operators.ErrBadRecord) {
			return err
		}
		if err := a.badRecord(ctx, r, err); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) processPartition(ctx context.Context, ts *taskState, p kgo.FetchTopicPartition) error {
	var last *kgo.Record
	n := 0
	for _, r := range p.Records {
		last = r
		if r.Attrs.IsControl() {
			continue // a transaction marker: only its offset counts
		}
		if err := a.processRecord(ctx, ts, r); err != nil {
			return err
		}
		n++
	}
	if last != nil {
		ts.offsets[tp{p.Topic, p.Partition}] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
		ts.in.Add(float64(n))
		lag := p.HighWatermark - last.Offset - 1
		ts.lagGauge(a, p.Topic, p.Partition).Set(float64(max(lag, 0)))
	}
	for _, r := range p.Records {
		r.Recycle() // nothing kept a *kgo.Record (see processRecord)
	}
	if d := ts.task.LateDropped(); d > ts.lateSeen {
		ts.late.Add(float64(d - ts.lateSeen))
		ts.lateSeen = d
	}
	return nil
}

// badRecord handles an input record that could not be decoded: fail, send
// it to the dead-letter topic, or log and skip it.
func (a *App) badRecord(ctx context.Context, r *kgo.Record, err error) error {
	a.metrics.badRecords.WithLabelValues(r.Topic).Inc()
	if a.cfg.FailOnBadRecord {
		return err
	}
	if a.cfg.DeadLetterTopic == "" {
		a.log.Warn("skipping undecodable record", "err", err)
		return nil
	}
	dl := &kgo.Record{Topic: a.cfg.DeadLetterTopic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp,
		Headers: append(append([]kgo.RecordHeader(nil), r.Headers...),
			kgo.RecordHeader{Key: "sluice.error", Value: []byte(err.Error())},
			kgo.RecordHeader{Key: "sluice.topic", Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: "sluice.partition", Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: "sluice.offset", Value: []byte(strconv.FormatInt(r.Offset, 10))},
		)}
	a.txnProduced++
	a.client.Produce(a.runCtx, dl, a.onProduced)
	return nil
}

func (a *App) onProduced(r *kgo.Record, err error) {
	if err != nil {
		a.setProduceErr(fmt.Errorf("produce to %s: %w", r.Topic, err))
	}
}

// localTasks lists task directories holding a checkpoint.
func (a *App) localTasks() []operators.TaskID {
	dir := filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var ids []operators.TaskID
	for _, e := range ents {
		if id, ok := parseTaskID(e.Name()); ok {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), checkpointFile)); err == nil {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// onAssigned records new tasks; the poll loop starts (and restores) them
// before processing their records.
func (a *App) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.metrics.rebalances.Inc()
	for topic, parts := range assigned {
		sub, ok := a.plan.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range parts {
			id := operators.TaskID{SubTopology: sub, Partition: p}
			if _, running := a.tasks[id]; !running {
				a.pending[id] = true
			}
		}
	}
	a.log.Info("assigned", "partitions", assigned)
}

// onRevoked commits and closes the revoked partitions' tasks (the eager
// protocol revokes everything before each rebalance).
func (a *App) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.tasksOf(revoked)
	var tss []*taskState
	for _, id := range ids {
		if ts := a.tasks[id]; ts != nil {
			tss = append(tss, ts)
		}
		delete(a.pending, id)
	}
	if a.eos {
		a.revokeTxn(tss, revoked)
		return
	}
	if err := a.commit(a.runCtx, tss); err != nil {
		a.log.Error("commit on revoke failed; records since the last commit will be processed again", "err", err)
	}
	for _, ts := range tss {
		a.closeTask(ts)
	}
	a.log.Info("revoked", "tasks", len(tss))
}

// onLost closes tasks without committing: another member owns them now.
func (a *App) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.eos {
		a.loseTxn(lost)
		return
	}
	for _, id := range a.tasksOf(lost) {
		if ts := a.tasks[id]; ts != nil {
			a.closeTask(ts)
		}
		delete(a.pending, id)
	}
	a.log.Warn("partitions lost", "partitions", lost)
}

func (a *App) tasksOf(parts map[string][]int32) []operators.TaskID {
	seen := map[operators.TaskID]bool{}
	var ids []operators.TaskID
	for topic, ps := range parts {
		sub, ok := a.plan.topicSub[topic]
		if !ok {
			continue
		}
		for _, p := range ps {
			id := operators.TaskID{SubTopology: sub, Partition: p}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	sortTaskIDs(ids)
	return ids
}

// startPending opens, restores and starts the tasks assigned since the last
// poll. Called with a.mu held.
func (a *App) startPending(ctx context.Context) error {
	if len(a.pending) == 0 {
		return nil
	}
	if a.eos && a.txnProduced > 0 {
		// Restoring can take long: commit what the running tasks did
		// first, so that their transaction does not time out meanwhile.
		if err := a.commitTxn(a.runCtx); err != nil {
			return err
		}
	}
	ids := make([]operators.TaskID, 0, len(a.pending))
	var tps []tp
	for id := range a.pending {
		ids = append(ids, id)
		for _, t := range a.plan.subs[id.SubTopology].sources {
			tps = append(tps, tp{t, id.Partition})
		}
	}
	sortTaskIDs(ids)
	committed, err := a.fetchCommitted(ctx, tps)
	if err != nil {
		if a.eos {
			// The stream time must be the one of the offsets the task
			// resumes from, and those are unknown: start again later.
			return fmt.Errorf("%w: read committed offsets: %w", errTxnCommit, err)
		}
		a.log.Warn("could not read committed stream times; tasks start without one", "err", err)
	}
	streamTimes := a.committedStreamTimes(committed, ids)
	for _, id := range ids {
		st, ok := streamTimes[id]
		if !ok {
			st = operators.NoTimestamp
		}
		ts, err := a.startTask(ctx, id, st, committed)
		if err != nil {
			return fmt.Errorf("start task %v: %w", id, err)
		}
		a.tasks[id] = ts
		for _, k := range ts.sourceTPs {
			a.byTP[k] = ts
		}
		delete(a.pending, id)
	}
	a.metrics.tasks.Set(float64(len(a.tasks)))
	select {
	case a.assigned <- struct{}{}:
	default:
	}
	return nil
}

// commitAll commits every running task.
func (a *App) commitAll(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	tss := make([]*taskState, 0, len(a.tasks))
	for _, ts := range a.tasks {
		tss = append(tss, ts)
	}
	return a.commit(ctx, tss)
}

// commit makes the tasks' progress durable. Under exactly-once it commits
// the transaction, which holds every task (commitTxn). Under at-least-once
// it goes in the order at-least-once needs: store caches into stores and
// changelogs, then every produced record (outputs and changelogs)
// acknowledged, then local stores synced and checkpointed, then input
// offsets committed. A crash anywhere before the last step replays input,
// never loses an update. Called with a.mu held.
func (a *App) commit(ctx context.Context, tss []*taskState) error {
	if a.eos {
		return a.commitTxn(ctx)
	}
	if len(tss) == 0 {
		return nil
	}
	start := time.Now()
	for _, ts := range tss {
		if err := ts.task.Flush(); err != nil {
			return err
		}
	}
	if err := a.client.Flush(ctx); err != nil {
		return fmt.Errorf("flush produced records: %w", err)
	}
	if err := a.getProduceErr(); err != nil {
		return err
	}
	for _, ts := range tss {
		if err := ts.checkpoint(); err != nil {
			return err
		}
	}
	if err := a.commitOffsets(ctx, tss); err != nil {
		return err
	}
	a.committed(tss, start)
	return nil
}

// commitOffsets commits the offsets the tasks processed since their last
// commit, outside any transaction, with their stream times. A failure
// wraps errOffsetCommit: outputs and state are safe, only the input
// position is not recorded yet, and the offsets are kept for the next
// commit.
func (a *App) commitOffsets(ctx context.Context, tss []*taskState) error {
	offsets := map[string]map[int32]kgo.EpochOffset{}
	for _, ts := range tss {
		for k, o := range ts.offsets {
			if offsets[k.topic] == nil {
				offsets[k.topic] = map[int32]kgo.EpochOffset{}
			}
			offsets[k.topic][k.partition] = o
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	var cerr error
	a.client.CommitOffsetsSync(withStreamTimes(ctx, tss), offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("%w: %w", errOffsetCommit, cerr)
	}
	return nil
}

// shutdown commits (unless the loop failed) and closes everything.
func (a *App) shutdown(loopErr error) {
	a.mu.Lock()
	if a.eos {
		a.shutdownTxn(loopErr)
	} else {
		if loopErr == nil {
			tss := make([]*taskState, 0, len(a.tasks))
			for _, ts := range a.tasks {
				tss = append(tss, ts)
			}
			ctx, cancel := context.WithTimeout(a.runCtx, 30*time.Second)
			if err := a.commit(ctx, tss); err != nil {
				a.log.Error("final commit failed", "err", err)
			}
			cancel()
		}
		for _, ts := range a.tasks {
			a.closeTask(ts)
		}
	}
	a.mu.Unlock()
	a.client.CloseAllowingRebalance()
	a.log.Info("stopped")
}

// closeTask closes a task (without committing) and forgets it.
func (a *App) closeTask(ts *taskState) {
	if err := ts.task.Close(); err != nil {
		a.log.Warn("close task", "task", ts.id, "err", err)
	}
	delete(a.tasks, ts.id)
	for _, t := range a.plan.subs[ts.id.SubTopology].sources {
		k := tp{t, ts.id.Partition}
		if a.byTP[k] == ts {
			delete(a.byTP, k)
		}
	}
	a.metrics.tasks.Set(float64(len(a.tasks)))
}

func timeMillis(ms int64) time.Time { return time.UnixMilli(ms) }
