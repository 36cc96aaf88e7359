package txn

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errMarkersPending: the outcome is decided (the prepare record is in the
// log) but some markers are not written yet; Run retries them.
var errMarkersPending = errors.New("transaction markers not yet written")

// EndTxn commits or aborts a transaction.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := kmsg.NewPtrEndTxnResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	resp.ErrorCode = c.endTxn(ctx, req)
	return resp
}

func (c *Coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) int16 {
	if req.TransactionalID == "" {
		return kerr.InvalidRequest.Code
	}
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	t := c.lock(req.TransactionalID)
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code
	}
	defer t.mu.Unlock()
	if code := checkProducer(t, req.ProducerID, req.ProducerEpoch, req.Version >= 2); code != 0 {
		return code
	}
	want := PrepareAbort
	if req.Commit {
		want = PrepareCommit
	}
	switch s := t.cur.state; s {
	case Ongoing:
		err := c.end(ctx, t, req.Commit, t.cur.epoch, t.cur.lastEpoch)
		switch {
		case err == nil, errors.Is(err, errMarkersPending):
			return 0 // decided; markers follow
		default:
			c.log.Error("ending transaction", "transactional_id", t.id, "commit", req.Commit, "err", err)
			return kerr.CoordinatorNotAvailable.Code
		}
	case PrepareCommit, PrepareAbort:
		if s != want {
			return kerr.InvalidTxnState.Code
		}
		if err := c.complete(ctx, t); err != nil {
			return kerr.ConcurrentTransactions.Code
		}
		return 0
	case CompleteCommit:
		if req.Commit {
			return 0 // a retry of a commit that succeeded
		}
		return kerr.InvalidTxnState.Code
	case CompleteAbort:
		if !req.Commit {
			return 0
		}
		return kerr.InvalidTxnState.Code
	default: // Empty: nothing to end
		return kerr.InvalidTxnState.Code
	}
}

// checkProducer validates a request's producer id and epoch against t:
// a stale epoch is PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for request
// versions that predate that code (fencedKnown false). The epoch just
// before the current one, when no other producer has initialized since
// (a transaction aborted on timeout, or a KIP-360 bump), is
// INVALID_PRODUCER_EPOCH too: its producer may still resume (KIP-588),
// which clients do only for that code.
func checkProducer(t *txn, pid int64, epoch int16, fencedKnown bool) int16 {
	if t.cur.producerID != pid {
		return kerr.InvalidProducerIDMapping.Code
	}
	if t.cur.epoch != epoch {
		if fencedKnown && (t.cur.lastEpoch == noEpoch || epoch != t.cur.lastEpoch) {
			return kerr.ProducerFenced.Code
		}
		return kerr.InvalidProducerEpoch.Code
	}
	return 0
}

// end moves an Ongoing transaction to PrepareCommit or PrepareAbort at
// epoch (a bumped epoch fences the producer) and completes it. The caller
// holds t.mu. A nil or errMarkersPending return means the outcome is
// durable.
func (c *Coordinator) end(ctx context.Context, t *txn, commit bool, epoch, lastEpoch int16) error {
	m := t.next()
	m.state = PrepareAbort
	if commit {
		m.state = PrepareCommit
	}
	m.epoch, m.lastEpoch = epoch, lastEpoch
	m.updateMs = c.nowMs()
	if err := c.write(t, m); err != nil {
		return err
	}
	t.setMarked(nil)
	if c.hangAfterPrepare {
		c.log.Warn("failpoint: hanging after the prepare record", "transactional_id", t.id, "state", m.state)
		select {
		case <-c.ctx.Done():
		case <-ctx.Done():
		}
		return fmt.Errorf("failpoint: %w", errMarkersPending)
	}
	return c.complete(ctx, t)
}

// complete writes the markers of a prepared transaction to every partition
// still missing one, then its Complete state. The caller holds t.mu.
func (c *Coordinator) complete(ctx context.Context, t *txn) error {
	commit := t.cur.state == PrepareCommit
	var firstErr error
	failed := 0
	for _, tp := range t.cur.parts {
		if _, done := t.marked[tp]; done {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := c.broker.WriteMarker(tp, t.cur.producerID, t.cur.epoch, commit)
		if err != nil && !errors.Is(err, ErrPartitionGone) {
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		t.setMarked(&tp)
	}
	if failed > 0 {
		c.metrics.markerErrors.Add(float64(failed))
		return fmt.Errorf("transactional id %q: %d marker(s) not written: %w (first: %v)", t.id, failed, errMarkersPending, firstErr)
	}
	m := t.next()
	m.state = CompleteAbort
	if commit {
		m.state = CompleteCommit
	}
	m.parts = nil
	m.updateMs = c.nowMs()
	if err := c.write(t, m); err != nil {
		return fmt.Errorf("%w: %v", errMarkersPending, err)
	}
	t.setMarked(nil)
	if commit {
		c.metrics.committed.Inc()
	} else {
		c.metrics.aborted.Inc()
	}
	return nil
}

// fence aborts t's Ongoing transaction with a bumped epoch, so that its
// producer's further writes fail. lastEpoch is recorded as the previous
// epoch (see InitProducerID). The caller holds t.mu.
func (c *Coordinator) fence(ctx context.Context, t *txn, lastEpoch int16) error {
	epoch := t.cur.epoch
	if !epochExhausted(epoch) {
		epoch++
	}
	return c.end(ctx, t, false, epoch, lastEpoch)
}
