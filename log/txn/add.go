package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn adds partitions to the producer's transaction (v0–v3,
// the client versions), starting the transaction if none is Ongoing. Every
// partition gets the same answer except when some do not exist: those get
// UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED, as in
// Kafka.
func (c *Coordinator) AddPartitionsToTxn(req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	var parts []TopicPartition
	missing := map[TopicPartition]bool{}
	for _, rt := range req.Topics {
		for _, p := range rt.Partitions {
			tp := TopicPartition{rt.Topic, p}
			parts = append(parts, tp)
			if !c.broker.PartitionExists(rt.Topic, p) {
				missing[tp] = true
			}
		}
	}
	code := int16(0)
	if len(missing) > 0 {
		code = kerr.OperationNotAttempted.Code
	} else {
		code = c.add(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, req.Version >= 2)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAddPartitionsToTxnResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p, code
			if missing[TopicPartition{rt.Topic, p}] {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// AddOffsetsToTxn adds the __consumer_offsets partition that holds the
// group (offsetsPartition, from the group coordinator) to the transaction,
// so that TxnOffsetCommit may write there.
func (c *Coordinator) AddOffsetsToTxn(req *kmsg.AddOffsetsToTxnRequest, offsetsTopic string, offsetsPartition int32) *kmsg.AddOffsetsToTxnResponse {
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	resp.ErrorCode = c.add(req.TransactionalID, req.ProducerID, req.ProducerEpoch,
		[]TopicPartition{{offsetsTopic, offsetsPartition}}, req.Version >= 2)
	return resp
}

func (c *Coordinator) add(id string, pid int64, epoch int16, parts []TopicPartition, fencedKnown bool) int16 {
	if id == "" {
		return kerr.InvalidRequest.Code
	}
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	t := c.lock(id)
	if t == nil {
		return kerr.InvalidProducerIDMapping.Code
	}
	defer t.mu.Unlock()
	if code := checkProducer(t, pid, epoch, fencedKnown); code != 0 {
		return code
	}
	if t.cur.state.preparing() {
		return kerr.ConcurrentTransactions.Code
	}
	m := t.next()
	if t.cur.state != Ongoing {
		m.parts = m.parts[:0]
		m.startMs = c.nowMs()
	}
	added := 0
	for _, tp := range parts {
		if t.cur.state == Ongoing && t.has(tp) {
			continue
		}
		m.parts = append(m.parts, tp)
		added++
	}
	if added == 0 && t.cur.state == Ongoing {
		return 0 // already in the transaction
	}
	m.parts = dedupe(m.parts)
	if len(m.parts) > c.cfg.MaxPartitionsPerTxn {
		c.log.Warn("refusing AddPartitionsToTxn: too many partitions in one transaction", "transactional_id", id,
			"partitions", len(m.parts), "limit", c.cfg.MaxPartitionsPerTxn)
		return kerr.InvalidRequest.Code
	}
	m.state = Ongoing
	m.updateMs = c.nowMs()
	if err := c.write(t, m); err != nil {
		c.log.Error("adding partitions to transaction", "transactional_id", id, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	return 0
}

// dedupe sorts ps and drops repeats.
func dedupe(ps []TopicPartition) []TopicPartition {
	sortParts(ps)
	out := ps[:0]
	for i, tp := range ps {
		if i == 0 || tp != ps[i-1] {
			out = append(out, tp)
		}
	}
	return out
}
