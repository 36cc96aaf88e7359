package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Exactly-once source tasks (KIP-618).
//
// A task on a worker with exactly.once.source.support=enabled owns a
// transactional producer whose transactional.id is
// "<group.id>-<connector>-<task>". Each transaction holds a run of the
// source's records and, produced last, the positions of those records in
// the offsets topic, so the records and their positions become visible
// together or not at all. A session of the task:
//
//  1. initializes the producer id (InitProducerId), which bumps the epoch
//     of the transactional id: an earlier instance of the task (this task
//     before a crash, or a zombie on a worker that lost the task's lease)
//     can no longer produce or commit, and its open transaction is
//     aborted;
//  2. reads the committed positions (read_committed, see readToEnd) and
//     opens the source after them;
//  3. polls and produces, ending a transaction at each boundary
//     (transaction.boundary): produce the positions, Flush, check every
//     record's promise, EndTransaction, then Source.Commit.
//
// Anything that leaves the outcome of a transaction in doubt — an
// EndTransaction error, a transaction the broker aborted after its
// timeout, a position that could not be produced — ends the session: the
// next one starts over from step 1, so the source is reopened from what
// the log holds, never from what this process thought it wrote. A task
// whose producer is fenced by a newer instance stops (errFenced) without
// committing anything and without touching the status topic.

// errFenced reports that a newer instance of the task initialized the same
// transactional id: this instance is a zombie and must stop.
var errFenced = errors.New("fenced: a newer instance of this task has taken over its transactional id")

// restartError ends an exactly-once session whose transaction may not have
// committed; the task starts a new session from the committed positions.
type restartError struct{ err error }

func (e *restartError) Error() string { return e.err.Error() }
func (e *restartError) Unwrap() error { return e.err }

// sourceTxn is the state of the open transaction. The produce promises
// write failed under mu; the task goroutine owns the rest.
type sourceTxn struct {
	open    bool
	start   time.Time
	records int // records produced in it
	// positions is the latest position per source partition, in the order
	// the partitions first appear; at indexes them.
	positions []connectors.Position
	at        map[string]int
	last      int // index in positions of the last position added
	slices    [][]kgo.Record

	mu     sync.Mutex
	failed []produceFailure
}

func (tx *sourceTxn) addPosition(p connectors.Position) {
	if p.IsZero() {
		return
	}
	if n := len(tx.positions); n > 0 && tx.positions[tx.last].Partition == p.Partition {
		tx.positions[tx.last] = p // the common case: one source partition
		return
	}
	if i, ok := tx.at[p.Partition]; ok {
		tx.positions[i], tx.last = p, i
		return
	}
	if tx.at == nil {
		tx.at = map[string]int{}
	}
	tx.at[p.Partition] = len(tx.positions)
	tx.last = len(tx.positions)
	tx.positions = append(tx.positions, p)
}

// reset forgets the ended transaction, keeping what can be reused.
func (tx *sourceTxn) reset() {
	tx.open, tx.records, tx.last = false, 0, 0
	tx.positions = tx.positions[:0]
	clear(tx.at)
	tx.slices = tx.slices[:0]
	tx.failed = nil
}

// isFenced reports whether err says another producer took over the
// transactional id. INVALID_PRODUCER_EPOCH is not fencing: the broker
// answers it when it aborted this producer's own transaction after the
// transaction timeout, which a new session recovers from.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced)
}

// runExactlyOnce runs sessions until one ends for a reason other than a
// transaction in doubt, backing off between them like any retry.
func (t *sourceTask) runExactlyOnce(ctx context.Context) error {
	e := &t.env
	delay := initialBackoff
	maxDelay := e.cfg.Duration(KeyRetryDelayMax)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			// A zombie must not start over: its new session would fence
			// the instance that fenced it. Ask the coordinator, not the
			// lease client, which may not have noticed yet.
			held, err := t.holdsLease(ctx)
			if err != nil {
				return e.fail("check the task's lease", kafkaRetriable(err))
			}
			if !held {
				e.log.Warn("source task not restarted: its lease moved to another worker, which runs it now")
				return t.fencedErr(errors.New("the lease moved to another worker"))
			}
		}
		committed, err := t.txnSession(ctx)
		var rs *restartError
		if !errors.As(err, &rs) || ctx.Err() != nil {
			return err
		}
		if committed > 0 {
			delay, attempt = initialBackoff, 1
		}
		e.w.m.retries.WithLabelValues(t.label...).Inc()
		e.log.Warn("exactly-once source task restarting from its committed positions", "attempt", attempt, "delay", delay, "err", err)
		t.setState(StateRunning, fmt.Sprintf("restarting from the committed positions (attempt %d): %v", attempt, err))
		tm := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
		if delay *= 2; delay > maxDelay {
			delay = maxDelay
		}
	}
}

// txnSession runs one transactional producer until the task stops or a
// transaction is in doubt. It returns how many transactions it committed.
func (t *sourceTask) txnSession(ctx context.Context) (committed int, err error) {
	e := &t.env
	w := e.w
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.TransactionalID(transactionalID(&w.cfg, e.connector, e.id)),
		kgo.TransactionTimeout(w.cfg.TransactionTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(w.cfg.SourceMaxInFlightRecords),
		kgo.MaxBufferedBytes(w.cfg.SourceMaxInFlightBytes),
		kgo.ClientID("connect-"+e.connector+"-"+strconv.Itoa(e.id)),
	)...)
	if err != nil {
		return 0, e.fail("kafka client", err)
	}
	defer cl.Close()
	t.cl, t.adm = cl, kadm.NewClient(cl)

	// Fence earlier instances before reading positions: once this returns,
	// their transactions are committed or aborted, never pending.
	if err := e.policy.do(ctx, func() error {
		_, _, err := cl.ProducerID(ctx)
		return kafkaRetriable(err)
	}); err != nil {
		return 0, e.fail("init transactional producer", err)
	}
	if e.id == 0 {
		t.fenceStale(ctx)
	}
	var positions connectors.Positions
	if err := e.policy.do(ctx, func() error {
		var err error
		positions, err = w.store.readPositions(ctx, e.connector)
		return kafkaRetriable(err)
	}); err != nil {
		return 0, e.fail("read source positions", err)
	}

	closeSrc, err := t.openSource(ctx, positions)
	defer closeSrc()
	if err != nil {
		return 0, err
	}
	t.setState(StateRunning, "")

	s := &txnRun{t: t, cl: cl, boundary: e.cfg.String(KeyTxnBoundary), interval: transactionInterval(e.cfg, &w.cfg)}
	defer func() {
		committed = s.committed
		if s.tx.open && !errors.Is(err, errFenced) {
			s.abandon(ctx)
		}
	}()
	// Records already polled are delivered even when stopping: a graceful
	// stop commits the open transaction, bounded by the shutdown timeout.
	dctx, dcancel := deliveryContext(ctx, w.cfg.ShutdownTimeout)
	defer dcancel()
	for ctx.Err() == nil {
		var endErr error
		ok := t.waitResumed(ctx, func() { endErr = s.pause(dctx) })
		if endErr != nil {
			return s.committed, endErr
		}
		if !ok {
			break
		}
		pctx, cancel := s.pollContext(ctx)
		recs, err := t.poll(pctx)
		cancel()
		if err != nil {
			return s.committed, err
		}
		if len(recs) > 0 {
			w.m.sourcePolled.WithLabelValues(t.label...).Add(float64(len(recs)))
			if err := s.produce(dctx, recs); err != nil {
				return s.committed, err
			}
		}
		if s.due(len(recs) > 0) {
			if err := s.end(dctx, true); err != nil {
				return s.committed, err
			}
		}
	}
	return s.committed, s.finish(dctx)
}

// txnRun is one session's transaction loop.
type txnRun struct {
	t         *sourceTask
	cl        *kgo.Client
	boundary  string
	interval  time.Duration
	tx        sourceTxn
	committed int
}

// pollContext bounds a Poll by the end of the interval of an open
// transaction, so that a quiet source does not hold it open.
func (s *txnRun) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.boundary != BoundaryInterval || !s.tx.open {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, s.tx.start.Add(s.interval))
}

// pause ends the open transaction before the task pauses. A transaction
// the source defines is not cut short: it is aborted and the session
// restarts, so the source emits those records again from its committed
// positions, in a transaction it ends itself.
func (s *txnRun) pause(ctx context.Context) error {
	if s.boundary != BoundaryConnector || !s.tx.open {
		return s.end(ctx, true)
	}
	s.abandon(ctx)
	return &restartError{errors.New("paused in the middle of a transaction the source defines: aborted it; the source resumes from its committed positions")}
}

// finish ends the open transaction when the task stops: committed, unless
// the source defines transactions (then aborted, so its transactions stay
// whole; the next instance emits those records again).
func (s *txnRun) finish(ctx context.Context) error {
	if s.boundary != BoundaryConnector {
		return s.end(ctx, true)
	}
	if s.tx.open {
		s.abandon(ctx)
	}
	return nil
}

// due reports whether the open transaction ends now (after a poll that
// returned records when polled is true).
func (s *txnRun) due(polled bool) bool {
	if !s.tx.open {
		return false
	}
	switch s.boundary {
	case BoundaryPoll:
		return polled
	case BoundaryInterval:
		return time.Since(s.tx.start) >= s.interval
	}
	return false // connector: ended by the records themselves
}

// produce adds a poll's records to the open transaction (beginning one
// when none is open), ending transactions where a source that defines
// them says so.
func (s *txnRun) produce(ctx context.Context, recs []connectors.Record) error {
	t := s.t
	e := &t.env
	defaultTopic := e.cfg.String(KeyTopic)
	connectorDefined := s.boundary == BoundaryConnector
	krs := t.recordSlice(len(recs))
	s.tx.slices = append(s.tx.slices, krs)
	promise := s.promise()
	for i := range recs {
		kr := &krs[i]
		if err := toKgo(kr, &recs[i], defaultTopic, e.w.schemas); err != nil {
			return e.fail(fmt.Sprintf("record %d: schema", i), err)
		}
		if kr.Topic == "" {
			return e.fail("produce", fmt.Errorf("record has no topic and the connector sets no %q", KeyTopic))
		}
		if err := t.ensureTopic(ctx, kr.Topic); err != nil {
			return err
		}
		if err := s.begin(); err != nil {
			return err
		}
		s.t.cl.Produce(ctx, kr, promise)
		s.tx.records++
		s.tx.addPosition(recs[i].Position)
		if connectorDefined && recs[i].Transaction != connectors.NoTransactionEnd {
			if err := s.end(ctx, recs[i].Transaction == connectors.CommitTransaction); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *txnRun) begin() error {
	if s.tx.open {
		return nil
	}
	if err := s.cl.BeginTransaction(); err != nil {
		return &restartError{fmt.Errorf("begin transaction: %w", err)}
	}
	s.tx.open, s.tx.start = true, time.Now()
	return nil
}

// promise records the failures of a transaction's records.
func (s *txnRun) promise() func(*kgo.Record, error) {
	tx := &s.tx
	return func(r *kgo.Record, err error) {
		if err != nil {
			tx.mu.Lock()
			tx.failed = append(tx.failed, produceFailure{r.Topic, err})
			tx.mu.Unlock()
		}
	}
}

// end commits (or, for a source that asked, aborts) the open transaction:
// its records, then their positions, then EndTransaction, then
// Source.Commit.
func (s *txnRun) end(ctx context.Context, commit bool) error {
	if !s.tx.open {
		return nil
	}
	t := s.t
	e := &t.env
	w := e.w
	tx := &s.tx
	// The positions go out with the records' tail, so one flush covers
	// both: if a record fails, the transaction is aborted (or, under
	// errors.tolerance=all, the record skipped) either way.
	var posErr func() error
	if commit && len(tx.positions) > 0 {
		posErr = s.producePositions(ctx)
	}
	if err := s.cl.Flush(ctx); err != nil {
		return e.fail("stop", fmt.Errorf("transaction records still in flight after the shutdown timeout: %w", err))
	}
	tx.mu.Lock()
	failed := tx.failed
	tx.mu.Unlock()
	skipped := 0
	var lost error
	for _, f := range failed {
		switch {
		case isFenced(f.err):
			return s.fenced(f.err)
		case transactionFailure(f.err):
			if lost == nil {
				lost = fmt.Errorf("produce to %s: %w", f.topic, f.err)
			}
		case e.cfg.String(KeyTolerance) == "all":
			// franz-go commits what was produced: the failed record
			// is skipped, as at-least-once tasks skip it.
			skipped++
			w.m.skipped.WithLabelValues(t.label...).Inc()
			e.log.Warn("source record skipped: produce failed (errors.tolerance=all)", "topic", f.topic, "err", f.err)
		default:
			s.abandon(ctx)
			return e.fail(fmt.Sprintf("produce to %s", f.topic), f.err)
		}
	}
	if lost != nil {
		return s.lost(ctx, lost)
	}
	if posErr != nil {
		if err := posErr(); err != nil {
			return err
		}
	}
	how := kgo.TryCommit
	if !commit {
		how = kgo.TryAbort
	}
	if err := s.cl.EndTransaction(ctx, how); err != nil {
		if isFenced(err) {
			return s.fenced(err)
		}
		return s.lost(ctx, fmt.Errorf("end transaction (outcome unknown; the next session finds out): %w", err))
	}
	if !commit {
		w.m.transactions.WithLabelValues(append(t.label, "aborted")...).Inc()
		e.log.Info("transaction aborted by the source", "records", tx.records)
		s.release()
		return nil
	}
	w.m.transactions.WithLabelValues(append(t.label, "committed")...).Inc()
	w.m.sourceWritten.WithLabelValues(t.label...).Add(float64(tx.records - skipped))
	w.m.batchSeconds.WithLabelValues(e.connector, "source").Observe(time.Since(tx.start).Seconds())
	s.committed++
	if len(tx.positions) > 0 {
		w.m.commits.WithLabelValues(append(t.label, "ok")...).Inc()
		positions := tx.positions
		if err := e.policy.do(ctx, func() error { return t.src.Commit(ctx, positions) }); err != nil {
			s.release()
			return e.fail("source commit", err)
		}
	}
	s.release()
	return nil
}

// producePositions adds the transaction's positions to it, in the offsets
// topic. The returned function, called after a flush, reports whether they
// were written.
func (s *txnRun) producePositions(ctx context.Context) func() error {
	t := s.t
	e := &t.env
	w := e.w
	var mu sync.Mutex
	var first error
	for _, p := range s.tx.positions {
		r := &kgo.Record{Topic: w.cfg.OffsetTopic, Key: offsetKey(e.connector, p.Partition), Value: positionValue(p)}
		s.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	return func() error {
		mu.Lock()
		err := first
		mu.Unlock()
		if err == nil {
			return nil
		}
		w.m.commits.WithLabelValues(append(t.label, "error")...).Inc()
		if isFenced(err) {
			return s.fenced(err)
		}
		return s.lost(ctx, fmt.Errorf("store source positions: %w", err))
	}
}

// lost ends a session whose transaction the broker aborted, or may have,
// or whose producer lost its epoch. Records fail with
// INVALID_PRODUCER_EPOCH both when the broker aborted this producer's
// transaction on timeout and when a newer instance fenced it, so it first
// tries to abort: franz-go then re-initializes the producer with its old
// epoch (KIP-588), which the broker allows only in the first case and
// answers PRODUCER_FENCED in the second. A fenced zombie stops; otherwise
// the task restarts from its committed positions.
func (s *txnRun) lost(ctx context.Context, cause error) error {
	t := s.t
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = s.cl.AbortBufferedRecords(actx)
	if err := s.cl.EndTransaction(actx, kgo.TryAbort); isFenced(err) {
		return s.fenced(err)
	}
	t.env.w.m.transactions.WithLabelValues(append(t.label, "aborted")...).Inc()
	s.tx.reset()
	return &restartError{cause}
}

// release ends the transaction's bookkeeping and keeps its record slices
// for reuse (the client is done with them after Flush).
func (s *txnRun) release() {
	t := s.t
	t.mu.Lock()
	for _, sl := range s.tx.slices {
		if len(t.spare) < maxSpareBatches {
			t.spare = append(t.spare, sl)
		}
	}
	t.mu.Unlock()
	s.tx.reset()
}

// fenced ends the session of a zombie: nothing it produced in the open
// transaction is committed (the broker aborted it when the newer instance
// took over), and the source is not told.
func (s *txnRun) fenced(err error) error {
	t := s.t
	t.env.w.m.transactions.WithLabelValues(append(t.label, "fenced")...).Inc()
	t.env.log.Warn("source task fenced: a newer instance of it runs elsewhere; stopping without committing", "transactional_id",
		transactionalID(&t.env.w.cfg, t.env.connector, t.env.id), "err", err)
	s.tx.reset()
	return t.fencedErr(err)
}

func (t *sourceTask) fencedErr(cause error) error {
	return fmt.Errorf("%w (%v)", errFenced, cause)
}

// abandon aborts the open transaction on the way out, best effort, so
// read_committed consumers need not wait for the transaction timeout.
func (s *txnRun) abandon(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.cl.AbortBufferedRecords(actx)
	if err := s.cl.EndTransaction(actx, kgo.TryAbort); err == nil {
		s.t.env.w.m.transactions.WithLabelValues(append(s.t.label, "aborted")...).Inc()
	}
	s.tx.reset()
}

// transactionFailure reports whether a record's produce error is about
// its transaction (timed out and aborted by the broker, or the producer id
// lost) rather than the record: the whole transaction is gone, whatever
// errors.tolerance says.
func transactionFailure(err error) bool {
	for _, e := range []error{kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping, kerr.InvalidTxnState,
		kerr.TransactionAbortable, kerr.ConcurrentTransactions, kgo.ErrAborting} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// positionValue is a position's offsets-topic value.
func positionValue(p connectors.Position) []byte {
	if len(p.Offset) == 0 {
		return []byte("null")
	}
	return []byte(p.Offset)
}

// fence initializes the task's transactional id once, aborting whatever
// an earlier transactional instance left open and fencing it, for
// exactly.once.source.support=preparing.
func (t *sourceTask) fence(ctx context.Context) error {
	e := &t.env
	if e.id == 0 {
		t.fenceStale(ctx)
	}
	return fenceID(ctx, &e.w.cfg, transactionalID(&e.w.cfg, e.connector, e.id))
}

// fenceID initializes transactional id once, fencing its producer.
func fenceID(ctx context.Context, wc *Config, id string) error {
	cl, err := kgo.NewClient(wc.clientOpts(kgo.TransactionalID(id), kgo.TransactionTimeout(wc.TransactionTimeout))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, _, err = cl.ProducerID(ctx)
	return kafkaRetriable(err)
}

// fenceStale fences the transactional ids of tasks the connector no
// longer has (task numbers at or past its task count, after tasks.max or
// the source's split shrank), so a zombie of such a task cannot commit
// positions of source partitions that other tasks now own. Task 0 does it
// when it starts, best effort: a cluster that does not list transactions
// (or refuses this worker) is logged and skipped. Kafka Connect's leader
// fences every task of the previous generation before starting the new
// one; Sluice has no leader, so a zombie of a task whose number survives
// a reconfiguration is fenced only when that task starts.
func (t *sourceTask) fenceStale(ctx context.Context) {
	e := &t.env
	prefix := fmt.Sprintf("%s-%s-", e.w.cfg.GroupID, e.connector)
	listed, err := e.w.store.adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		e.log.Warn("cannot list transactional ids to fence those of removed tasks", "err", err)
		return
	}
	for _, id := range listed.TransactionalIDs() {
		n, err := strconv.Atoi(strings.TrimPrefix(id, prefix))
		if !strings.HasPrefix(id, prefix) || err != nil || n < e.tasks || strconv.Itoa(n) != strings.TrimPrefix(id, prefix) {
			continue
		}
		if err := fenceID(ctx, &e.w.cfg, id); err != nil {
			e.log.Warn("cannot fence the transactional id of a removed task", "transactional_id", id, "err", err)
			continue
		}
		e.log.Info("fenced the transactional id of a removed task", "transactional_id", id)
	}
}
