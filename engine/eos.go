package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Exactly-once processing follows Kafka Streams' exactly_once_v2 (KIP-447):
// one transactional producer per instance. Everything a commit interval
// produces — outputs, repartition records, changelog records, dead letters —
// and the input offsets of the records processed in it are one
// transaction, ended by commit() every CommitInterval, before a revocation
// and at shutdown. Input and changelog topics are read read_committed, so
// what an aborted transaction wrote is never seen by anyone.
//
// franz-go's GroupTransactSession commits the offsets of every record
// polled, but this engine holds polled records in per-task queues (see
// ordering.go) and may commit only what it processed; so the engine drives
// the transaction itself: BeginTransaction, produce, Flush, AddOffsetsToTxn
// and TxnOffsetCommit (carrying the group generation and member id, which
// is what fences a zombie instance under KIP-447), EndTransaction.
//
// Local stores are not transactional. A task deletes its checkpoint before
// it processes anything and writes one only when it closes cleanly after a
// committed transaction; a task that starts without one wipes its local
// stores and restores them from the changelogs (read_committed, up to the
// last stable offset). When a transaction cannot commit (a produce failed,
// the broker aborted it after TransactionTimeout, the group moved on), the
// engine aborts it, closes every task without a checkpoint, rewinds the
// consumer to the committed offsets and starts the tasks again: the task
// set restarts from the last committed transaction.

// Sentinels for errors that abort the transaction and restart the task set
// rather than stopping the application.
var (
	errProduce   = errors.New("produce")
	errTxnCommit = errors.New("commit transaction")
)

// maxConsecutiveAborts bounds restarts of the task set without a committed
// transaction in between: a cause that does not go away (a record the
// broker always refuses) stops the application instead of looping.
const maxConsecutiveAborts = 10

// fatalTxnErr reports errors that no abort and retry can cure: another
// producer took this instance's transactional id, another member its
// instance id, or the broker refuses what the application writes.
func fatalTxnErr(err error) bool {
	for _, e := range []error{
		kerr.ProducerFenced, kerr.FencedInstanceID,
		kerr.TransactionalIDAuthorizationFailed, kerr.GroupAuthorizationFailed,
		kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord,
		kerr.InvalidTopicException, kerr.UnsupportedVersion,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// abortable reports whether err, met under exactly-once, is cured by
// aborting the transaction and restarting the task set.
func (a *App) abortable(err error) bool {
	return a.eos && (errors.Is(err, errProduce) || errors.Is(err, errTxnCommit)) && !fatalTxnErr(err)
}

// initTransactions initializes the producer id before the consumer
// polls: InitProducerId bumps the epoch of this instance's transactional
// id, which aborts whatever a crashed predecessor with the same id left
// open and releases its pending offsets at once, instead of leaving the
// group's offsets unstable until the transaction timeout.
func (a *App) initTransactions(ctx context.Context) error {
	if _, _, err := a.client.ProducerID(ctx); err != nil {
		return fmt.Errorf("transactional id %s: init producer id: %w", a.txnID, err)
	}
	if err := a.client.BeginTransaction(); err != nil {
		return fmt.Errorf("transactional id %s: begin transaction: %w", a.txnID, err)
	}
	a.log.Info("exactly-once: producer initialized", "transactional_id", a.txnID)
	return nil
}

// commitTxn ends the current transaction with a commit: store caches
// flushed into stores and changelogs, every produced record acknowledged,
// the processed input offsets added to the transaction, EndTxn; then a new
// transaction begins. Every task commits: one transaction holds them all.
// An error wrapping errTxnCommit or errProduce means the transaction must
// be aborted (restartTasks). Called with a.mu held.
func (a *App) commitTxn(ctx context.Context) error {
	start := time.Now()
	tss := a.sortedTasks()
	for _, ts := range tss {
		if err := ts.task.Flush(); err != nil {
			return err
		}
	}
	if err := a.client.Flush(ctx); err != nil {
		return fmt.Errorf("%w: flush produced records: %w", errTxnCommit, err)
	}
	// franz-go commits whatever was produced, failed records or not: a
	// failed promise must abort instead.
	if err := a.getProduceErr(); err != nil {
		return err
	}
	changed := false
	for _, ts := range tss {
		if len(ts.offsets) > 0 {
			changed = true
			break
		}
	}
	if a.txnProduced == 0 {
		// Nothing was written: the transaction is empty (franz-go ends
		// it without a request) and a plain offset commit, fenced by
		// the group generation like the transactional one, is the
		// whole commit.
		if err := a.client.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("%w: end empty transaction: %w", errTxnCommit, err)
		}
		if err := a.client.BeginTransaction(); err != nil {
			return fmt.Errorf("%w: begin transaction: %w", errTxnCommit, err)
		}
		if !changed {
			return nil
		}
		if err := a.commitOffsets(ctx, tss); err != nil {
			return err
		}
		a.committed(tss, start)
		return nil
	}
	// Every owned partition with a known position goes into the commit,
	// changed or not: the TxnOffsetCommit is what fences this transaction
	// if the group has moved on, so a transaction must carry one even
	// when it only holds punctuation output.
	offsets := map[tp]kgo.EpochOffset{}
	md := map[tp]string{}
	for _, ts := range tss {
		for k, o := range ts.committedPos {
			offsets[k] = o
		}
		for k, o := range ts.offsets {
			offsets[k] = o
		}
		if enc, ok := ts.streamTimeMetadata(); ok {
			for _, k := range ts.sourceTPs {
				md[k] = enc
			}
		}
	}
	if len(offsets) > 0 {
		if err := a.txnOffsetCommit(ctx, offsets, md); err != nil {
			return fmt.Errorf("%w: %w", errTxnCommit, err)
		}
	}
	if err := a.client.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("%w: end transaction: %w", errTxnCommit, err)
	}
	a.txnProduced = 0
	a.offsetsAdded = false
	if err := a.client.BeginTransaction(); err != nil {
		return fmt.Errorf("%w: begin transaction: %w", errTxnCommit, err)
	}
	a.committed(tss, start)
	return nil
}

// committed records a successful commit of tss.
func (a *App) committed(tss []*taskState, start time.Time) {
	for _, ts := range tss {
		for k, o := range ts.offsets {
			ts.committedPos[k] = o
		}
		clear(ts.offsets)
	}
	a.aborts = 0
	a.metrics.commits.Inc()
	a.metrics.commitSeconds.Observe(time.Since(start).Seconds())
}

// txnOffsetCommit adds the group to the transaction (AddOffsetsToTxn, once
// per transaction) and commits offsets in it (TxnOffsetCommit with the
// member id and generation, KIP-447), with each partition's stream-time
// metadata.
func (a *App) txnOffsetCommit(ctx context.Context, offsets map[tp]kgo.EpochOffset, md map[tp]string) error {
	id, epoch, err := a.client.ProducerID(ctx)
	if err != nil {
		return fmt.Errorf("producer id: %w", err)
	}
	if !a.offsetsAdded {
		err := retryTxnRequest(ctx, func() error {
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID = a.txnID
			req.ProducerID, req.ProducerEpoch = id, epoch
			req.Group = a.cfg.ApplicationID
			resp, err := req.RequestWith(ctx, a.client)
			if err != nil {
				return err
			}
			return kerr.ErrorForCode(resp.ErrorCode)
		})
		if err != nil {
			return fmt.Errorf("add offsets to transaction: %w", err)
		}
		a.offsetsAdded = true
	}
	memberID, generation := a.client.GroupMetadata()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID = a.txnID
	req.Group = a.cfg.ApplicationID
	req.ProducerID, req.ProducerEpoch = id, epoch
	req.Generation, req.MemberID = generation, memberID
	if a.cfg.InstanceID != "" {
		req.InstanceID = &a.cfg.InstanceID
	}
	byTopic := map[string][]kmsg.TxnOffsetCommitRequestTopicPartition{}
	for k, o := range offsets {
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = k.partition, o.Offset, o.Epoch
		if s, ok := md[k]; ok {
			p.Metadata = &s
		}
		byTopic[k.topic] = append(byTopic[k.topic], p)
	}
	topics := make([]string, 0, len(byTopic))
	for t := range byTopic {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic, rt.Partitions = t, byTopic[t]
		req.Topics = append(req.Topics, rt)
	}
	return retryTxnRequest(ctx, func() error {
		resp, err := req.RequestWith(ctx, a.client)
		if err != nil {
			return err
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return fmt.Errorf("txn offset commit %s/%d: %w", t.Topic, p.Partition, err)
				}
			}
		}
		return nil
	})
}

// retryTxnRequest retries fn while the coordinator answers with an error
// that goes away by itself (CONCURRENT_TRANSACTIONS while a previous
// transaction's markers are written, a coordinator moving or loading),
// for at most a few seconds.
func retryTxnRequest(ctx context.Context, fn func() error) error {
	backoff := 10 * time.Millisecond
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := fn()
		if err == nil {
			return nil
		}
		retry := errors.Is(err, kerr.ConcurrentTransactions) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
			errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.NotCoordinator)
		if !retry || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// abortTxn drops unsent records, aborts the transaction and begins the
// next one. Records written in the aborted transaction stay in their logs
// behind an abort marker, invisible to read_committed consumers.
func (a *App) abortTxn(ctx context.Context) error {
	if err := a.client.AbortBufferedRecords(ctx); err != nil {
		return fmt.Errorf("abort buffered records: %w", err)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		// A commit with an unconfirmed outcome, or a producer id the
		// broker fenced after the transaction timeout, is retried as an
		// abort, which reinitializes the producer id (KIP-360/588).
		if err = a.client.EndTransaction(ctx, kgo.TryAbort); err == nil || fatalTxnErr(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("abort transaction: %w", err)
	}
	a.resetProduceErr()
	a.txnProduced = 0
	a.offsetsAdded = false
	if err := a.client.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction after abort: %w", err)
	}
	return nil
}

// restartTasks aborts the transaction after cause, closes every task
// without a checkpoint (their stores hold writes of the aborted
// transaction), rewinds the consumer to the committed offsets and marks
// the tasks still owned (all but those in gone; a loss of partitions,
// which does not count towards maxConsecutiveAborts) to start again, which
// restores their stores from the changelogs. Called with a.mu held, while
// the rebalance is blocked.
func (a *App) restartTasks(ctx context.Context, cause error, gone map[tp]bool) error {
	a.aborts++
	a.metrics.txnAborts.Inc()
	if gone == nil && a.aborts > maxConsecutiveAborts {
		return fmt.Errorf("exactly-once: %d transactions aborted in a row, giving up: %w", a.aborts-1, cause)
	}
	a.log.Warn("exactly-once: aborting the transaction and restarting the tasks from the last commit", "cause", cause)
	actx, cancel := context.WithTimeout(ctx, a.cfg.TransactionTimeout+30*time.Second)
	defer cancel()
	if err := a.abortTxn(actx); err != nil {
		return fmt.Errorf("exactly-once: %w (after %w)", err, cause)
	}
	var keep []*taskState
	for _, ts := range a.sortedTasks() {
		owned := true
		for _, k := range ts.sourceTPs {
			if gone[k] {
				owned = false
			}
		}
		if owned {
			keep = append(keep, ts)
		}
		a.closeTask(ts)
	}
	if err := a.rewind(actx, keep); err != nil {
		return fmt.Errorf("exactly-once: rewind after abort: %w", err)
	}
	for _, ts := range keep {
		a.pending[ts.id] = true
	}
	return nil
}

// rewind moves the consumer back to the committed offsets of the tasks'
// partitions (their log start where nothing was committed), dropping what
// was fetched after them.
func (a *App) rewind(ctx context.Context, tss []*taskState) error {
	if len(tss) == 0 {
		return nil
	}
	var topics []string
	var tps []tp
	seen := map[string]bool{}
	for _, ts := range tss {
		for _, k := range ts.sourceTPs {
			tps = append(tps, k)
			if !seen[k.topic] {
				seen[k.topic] = true
				topics = append(topics, k.topic)
			}
		}
	}
	committed, err := a.fetchCommitted(ctx, tps)
	if err != nil {
		return err
	}
	starts, err := a.admin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("start offsets: %w", err)
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for _, ts := range tss {
		for _, k := range ts.sourceTPs {
			eo := kgo.EpochOffset{Epoch: -1, Offset: 0}
			if c, ok := committed.Lookup(k.topic, k.partition); ok && c.Err == nil && c.At >= 0 {
				eo = kgo.EpochOffset{Epoch: c.LeaderEpoch, Offset: c.At}
			} else if s, ok := starts.Lookup(k.topic, k.partition); ok && s.Err == nil {
				eo.Offset = s.Offset
			}
			if set[k.topic] == nil {
				set[k.topic] = map[int32]kgo.EpochOffset{}
			}
			set[k.topic][k.partition] = eo
		}
	}
	a.client.SetOffsets(set)
	return nil
}

// sortedTasks lists the running tasks in task order. Called with a.mu held.
func (a *App) sortedTasks() []*taskState {
	tss := make([]*taskState, 0, len(a.tasks))
	for _, ts := range a.tasks {
		tss = append(tss, ts)
	}
	sort.Slice(tss, func(i, j int) bool {
		x, y := tss[i].id, tss[j].id
		if x.SubTopology != y.SubTopology {
			return x.SubTopology < y.SubTopology
		}
		return x.Partition < y.Partition
	})
	return tss
}
