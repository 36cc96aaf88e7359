package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/wire"
)

// ListOffsets special timestamps.
const (
	tsLatest        = -1
	tsEarliest      = -2
	tsMaxTimestamp  = -3 // KIP-734, v7+
	tsEarliestLocal = -4 // KIP-405, v8+: no tiered storage, so earliest
)

func (c *conn) handleListOffsets(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ListOffsetsRequest)
	b := c.b
	resp := kmsg.NewPtrListOffsetsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			p := b.topics.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.offline != nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case rp.CurrentLeaderEpoch > leaderEpoch:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				b.listOffset(p, rp.Timestamp, req.IsolationLevel == 1, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffset answers one partition of ListOffsets. readCommitted
// (isolation level 1) caps what it returns at the last stable offset, as
// a read_committed consumer cannot read past it.
func (b *Broker) listOffset(p *partition, ts int64, readCommitted bool, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.LeaderEpoch = leaderEpoch
	switch ts {
	case tsLatest:
		sp.Offset = p.log.HighWatermark()
		if readCommitted {
			sp.Offset = p.log.LastStableOffset()
		}
	case tsEarliest, tsEarliestLocal:
		sp.Offset = p.log.LogStartOffset()
	case tsMaxTimestamp:
		sp.Offset, sp.Timestamp = p.log.MaxTimestamp()
		if sp.Offset < 0 {
			sp.LeaderEpoch = -1
		}
	default:
		if ts < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, found, err := p.log.OffsetForTimestamp(ts)
		switch {
		case errors.Is(err, storage.ErrNoOffsetForTimestamp):
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
		case err != nil:
			b.log.Error("offset for timestamp", "topic", p.topic, "partition", p.index, "err", err)
			sp.ErrorCode = errorCode(err)
		case readCommitted && off >= p.log.LastStableOffset():
			sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
		default:
			sp.Offset, sp.Timestamp = off, found
		}
	}
}

func (c *conn) handleOffsetForLeaderEpoch(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.OffsetForLeaderEpochRequest)
	b := c.b
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p := b.topics.partition(rt.Topic, rp.Partition)
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.offline != nil:
				sp.ErrorCode = kerr.KafkaStorageError.Code
			case rp.CurrentLeaderEpoch > leaderEpoch:
				sp.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				sp.LeaderEpoch, sp.EndOffset = p.log.EndOffsetForEpoch(rp.LeaderEpoch)
				if hw := p.log.HighWatermark(); sp.EndOffset > hw {
					sp.EndOffset = hw
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (c *conn) handleDeleteRecords(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DeleteRecordsRequest)
	b := c.b
	resp := kmsg.NewPtrDeleteRecordsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p := b.topics.partition(rt.Topic, rp.Partition)
			if p == nil || p.offline != nil {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				if p != nil {
					sp.ErrorCode = kerr.KafkaStorageError.Code
				}
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			off := rp.Offset
			p.appendMu.Lock()
			hw := p.log.HighWatermark()
			if off == -1 {
				off = hw
			}
			var low int64
			var err error
			if off < 0 || off > hw {
				err = fmt.Errorf("%w: delete before %d; high watermark is %d", storage.ErrOffsetOutOfRange, off, hw)
			} else {
				low, err = p.log.DeleteRecordsBefore(off)
			}
			p.appendMu.Unlock()
			if err != nil {
				sp.ErrorCode = errorCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("delete records", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				}
			} else {
				sp.LowWatermark = low
				p.notify()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (c *conn) handleInitProducerID(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		return c.b.txns.InitProducerID(c.ctx, req), nil
	}
	id, err := c.b.producerIDs.allocate()
	if err != nil {
		c.b.log.Error("allocating producer id", "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
