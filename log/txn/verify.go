package txn

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// VerifyAppend checks that a transactional batch of producerID at epoch may
// be appended to tp: the producer's transaction is Ongoing at that epoch
// and tp was added to it. The broker calls it under the partition's append
// lock, so that no batch can pass the check and then land after the
// transaction's marker. The error wraps the *kerr.Error the producer
// should see: INVALID_PRODUCER_EPOCH for a fenced (or, newer, unknown)
// epoch, INVALID_PRODUCER_ID_MAPPING for an id the coordinator does not
// know, INVALID_TXN_STATE for a partition not in an Ongoing transaction.
func (c *Coordinator) VerifyAppend(producerID int64, epoch int16, tp TopicPartition) error {
	c.mu.Lock()
	t := c.byPID[producerID]
	c.mu.Unlock()
	if t == nil {
		return fmt.Errorf("producer id %d has no transactional id: %w", producerID, kerr.InvalidProducerIDMapping)
	}
	t.view.RLock()
	defer t.view.RUnlock()
	switch {
	case t.cur.producerID != producerID:
		return fmt.Errorf("producer id %d is no longer %q's: %w", producerID, t.id, kerr.InvalidProducerIDMapping)
	case epoch != t.cur.epoch:
		return fmt.Errorf("transactional id %q: epoch %d is not the current %d: %w", t.id, epoch, t.cur.epoch, kerr.InvalidProducerEpoch)
	case t.cur.state != Ongoing:
		return fmt.Errorf("transactional id %q has no ongoing transaction (%s): %w", t.id, t.cur.state, kerr.InvalidTxnState)
	case !t.has(tp):
		return fmt.Errorf("transactional id %q: %s-%d was not added to the transaction (AddPartitionsToTxn): %w", t.id, tp.Topic, tp.Partition, kerr.InvalidTxnState)
	}
	return nil
}
