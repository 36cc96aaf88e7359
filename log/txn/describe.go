package txn

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions describes transactional ids (KIP-664).
func (c *Coordinator) DescribeTransactions(req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	closed := c.isClosed()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		var t *txn
		switch {
		case closed:
			st.ErrorCode = kerr.CoordinatorNotAvailable.Code
		case id == "":
			st.ErrorCode = kerr.InvalidRequest.Code
		default:
			t = c.get(id)
			if t == nil {
				st.ErrorCode = kerr.TransactionalIDNotFound.Code
			}
		}
		if t != nil {
			t.view.RLock()
			m := t.cur
			// While preparing, only the partitions still waiting
			// for their marker, as Kafka reports them.
			var parts []TopicPartition
			for _, tp := range m.parts {
				if _, done := t.marked[tp]; !done {
					parts = append(parts, tp)
				}
			}
			m.parts = parts
			t.view.RUnlock()
			if m.epoch == noEpoch {
				// Created by an InitProducerId whose write failed.
				st.ErrorCode = kerr.TransactionalIDNotFound.Code
			} else {
				st.State = m.state.String()
				st.TimeoutMillis = m.timeoutMs
				st.StartTimestamp = m.startMs
				st.ProducerID, st.ProducerEpoch = m.producerID, m.epoch
				for i := 0; i < len(m.parts); {
					tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					tt.Topic = m.parts[i].Topic
					for ; i < len(m.parts) && m.parts[i].Topic == tt.Topic; i++ {
						tt.Partitions = append(tt.Partitions, m.parts[i].Partition)
					}
					st.Topics = append(st.Topics, tt)
				}
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// ListTransactions lists transactional ids, filtered by state, producer id
// and (v1+) minimum running time (KIP-664, KIP-994).
func (c *Coordinator) ListTransactions(req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := kmsg.NewPtrListTransactionsResponse()
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	var states []State
	for _, name := range req.StateFilters {
		s, ok := parseState(name)
		if !ok {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
			continue
		}
		states = append(states, s)
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		return resp // only unknown states: nothing matches
	}
	now := c.nowMs()
	for _, t := range c.snapshot() {
		t.view.RLock()
		m := t.cur
		t.view.RUnlock()
		switch {
		case m.epoch == noEpoch:
		case len(states) > 0 && !slices.Contains(states, m.state):
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.producerID):
		case req.DurationFilterMillis >= 0 && req.Version >= 1 && (m.state != Ongoing || now-m.startMs < req.DurationFilterMillis):
		default:
			ts := kmsg.NewListTransactionsResponseTransactionState()
			ts.TransactionalID, ts.ProducerID, ts.TransactionState = t.id, m.producerID, m.state.String()
			resp.TransactionStates = append(resp.TransactionStates, ts)
		}
	}
	return resp
}
