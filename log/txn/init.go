package txn

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID answers InitProducerId for a transactional producer
// (req.TransactionalID set): it hands out the id's producer id with a
// bumped epoch, aborting an Ongoing transaction first, which fences every
// older producer of the same transactional id.
//
// With a producer id and epoch in the request (v3+, KIP-360) the producer
// is resuming after an error: it keeps its producer id if it is still the
// current owner, and is fenced otherwise.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	pid, epoch, code := c.initProducerID(ctx, req)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = pid, epoch
	return resp
}

func (c *Coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	id := *req.TransactionalID
	switch {
	case id == "" || len(id) > maxIDBytes:
		return 0, 0, kerr.InvalidRequest.Code
	case req.TransactionTimeoutMillis <= 0 || int64(req.TransactionTimeoutMillis) > c.cfg.MaxTimeout.Milliseconds():
		return 0, 0, kerr.InvalidTransactionTimeout.Code
	}
	fenced := kerr.InvalidProducerEpoch.Code
	if req.Version >= 4 {
		fenced = kerr.ProducerFenced.Code
	}
	expected := req.Version >= 3 && req.ProducerID >= 0
	t, err := c.lockOrCreate(id)
	if err != nil {
		if !errors.Is(err, ErrClosed) {
			c.log.Warn("refusing InitProducerId", "transactional_id", id, "err", err)
		}
		return 0, 0, kerr.CoordinatorNotAvailable.Code
	}
	defer t.mu.Unlock()

	if t.cur.producerID < 0 {
		pid, err := c.broker.NewProducerID()
		if err != nil {
			c.log.Error("allocating producer id", "transactional_id", id, "err", err)
			return 0, 0, kerr.CoordinatorNotAvailable.Code
		}
		c.apply(t, meta{producerID: pid, lastProducerID: noProducer, epoch: noEpoch, lastEpoch: noEpoch,
			timeoutMs: req.TransactionTimeoutMillis, state: Empty, startMs: -1, updateMs: c.nowMs()})
	}
	if expected && !(t.cur.epoch == noEpoch || req.ProducerID == t.cur.producerID ||
		(req.ProducerID == t.cur.lastProducerID && epochExhausted(req.ProducerEpoch))) {
		return 0, 0, fenced
	}
	expEpoch := req.ProducerEpoch
	switch t.cur.state {
	case PrepareCommit, PrepareAbort:
		if err := c.complete(ctx, t); err != nil {
			return 0, 0, kerr.ConcurrentTransactions.Code
		}
	case Ongoing:
		// Abort what the previous producer left open. Kafka answers
		// CONCURRENT_TRANSACTIONS here and bumps again on the retry;
		// the abort completes synchronously on a single node, so this
		// request goes on to the second bump itself.
		before := t.cur.epoch
		if err := c.fence(ctx, t, noEpoch); err != nil {
			if errors.Is(err, errMarkersPending) {
				return 0, 0, kerr.ConcurrentTransactions.Code
			}
			c.log.Error("aborting the transaction of a fenced producer", "transactional_id", id, "err", err)
			return 0, 0, kerr.CoordinatorNotAvailable.Code
		}
		c.metrics.fenced.Inc()
		if expected && expEpoch == before && req.ProducerID == t.cur.producerID {
			// The owner itself is resuming: the fence was on its
			// behalf.
			expEpoch = t.cur.epoch
		}
	}
	m := t.next()
	m.state, m.parts = Empty, nil
	m.timeoutMs = req.TransactionTimeoutMillis
	m.startMs, m.updateMs = -1, c.nowMs()
	switch {
	case epochExhausted(t.cur.epoch) && (!expected || expEpoch == t.cur.epoch):
		// No epoch left: rotate to a new producer id (KIP-360).
		pid, err := c.broker.NewProducerID()
		if err != nil {
			c.log.Error("allocating producer id", "transactional_id", id, "err", err)
			return 0, 0, kerr.CoordinatorNotAvailable.Code
		}
		m.lastProducerID, m.producerID = t.cur.producerID, pid
		m.epoch, m.lastEpoch = 0, noEpoch
		if expected {
			m.lastEpoch = t.cur.epoch
		}
	case !expected:
		m.epoch, m.lastEpoch = t.cur.epoch+1, noEpoch
	case t.cur.epoch == noEpoch || expEpoch == t.cur.epoch:
		m.epoch, m.lastEpoch = t.cur.epoch+1, t.cur.epoch
	case expEpoch == t.cur.lastEpoch:
		// A retry of a bump whose answer was lost, or a producer whose
		// transaction the coordinator aborted on timeout (KIP-588):
		// the current epoch is still its own.
	default:
		return 0, 0, fenced
	}
	if err := c.write(t, m); err != nil {
		c.log.Error("initializing producer id", "transactional_id", id, "err", err)
		return 0, 0, kerr.CoordinatorNotAvailable.Code
	}
	c.log.Info("initialized transactional producer", "transactional_id", id, "producer_id", m.producerID, "epoch", m.epoch)
	return m.producerID, m.epoch, 0
}
