package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/wire"
)

// magicOffset is where a record batch (or a v0/v1 message set entry) keeps
// its magic byte.
const magicOffset = 16

func (c *conn) handleProduce(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.ProduceRequest)
	b := c.b
	resp := kmsg.NewPtrProduceResponse()
	resp.Topics = make([]kmsg.ProduceResponseTopic, 0, len(req.Topics))
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		// Kafka answers every partition with INVALID_REQUIRED_ACKS.
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.InvalidRequiredAcks.Code
				sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	failed := 0
	var firstErr error
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, 0, len(rt.Partitions))
		t := b.topics.get(rt.Topic)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			code, err := b.produceTo(t, rp, &sp)
			if code != 0 {
				failed++
				b.metrics.produceErrors.Inc()
				sp.ErrorCode = code
				if err != nil {
					sp.ErrorMessage = errMessage(err)
					if firstErr == nil {
						firstErr = err
					}
					if code == kerr.UnknownServerError.Code {
						b.log.Error("append failed", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Acks == 0 {
		// acks=0 has no response; the only way to tell the client about
		// a failure is to close the connection, as Kafka does.
		if failed > 0 {
			return nil, closeErr("acks=0 produce failed for %d partition(s): %v", failed, firstErr)
		}
		return nil, nil
	}
	return resp, nil
}

// produceTo appends one partition's batches and fills sp. It returns the
// Kafka error code and, for logging and ErrorMessage, the error.
func (b *Broker) produceTo(t *topic, rp *kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition) (int16, error) {
	if t == nil {
		return kerr.UnknownTopicOrPartition.Code, nil
	}
	b.topics.mu.RLock()
	var p *partition
	if rp.Partition >= 0 && int(rp.Partition) < len(t.parts) {
		p = t.parts[rp.Partition]
	}
	internal := t.internal
	b.topics.mu.RUnlock()
	if p == nil {
		return kerr.UnknownTopicOrPartition.Code, nil
	}
	if p.offline != nil {
		return kerr.KafkaStorageError.Code, p.offline
	}
	if internal {
		return kerr.InvalidTopicException.Code, fmt.Errorf("%s is an internal topic", t.name)
	}
	if len(rp.Records) > magicOffset && rp.Records[magicOffset] != 2 {
		return kerr.CorruptMessage.Code, fmt.Errorf("message format v%d is not supported: produce RecordBatch v2 (Kafka 0.11+ clients)", rp.Records[magicOffset])
	}
	pid, epoch, txnl := transactionalProducer(rp.Records)
	p.appendMu.Lock()
	if txnl {
		// Under the append lock, so that the transaction cannot end
		// (its marker cannot be written here) between check and append.
		if err := b.verifyTxnAppend(pid, epoch, p); err != nil {
			p.appendMu.Unlock()
			return errorCode(err), fmt.Errorf("%s-%d: %w", t.name, rp.Partition, err)
		}
	}
	info, err := p.log.Append(rp.Records, storage.AppendOptions{LeaderEpoch: leaderEpoch, Origin: storage.OriginClient})
	if err == nil {
		// A single node is the whole ISR: the high watermark follows
		// the log end at once.
		p.log.SetHighWatermark(p.log.LogEndOffset())
	}
	p.appendMu.Unlock()
	sp.LogStartOffset = p.log.LogStartOffset()
	if err != nil {
		return errorCode(err), fmt.Errorf("%s-%d: %w", t.name, rp.Partition, err)
	}
	if !info.Duplicate {
		p.notify()
		b.metrics.producedRecs.Add(float64(info.Records))
		b.metrics.producedBytes.Add(float64(len(rp.Records)))
	}
	sp.BaseOffset = info.BaseOffset
	sp.LogAppendTime = info.LogAppendTime
	return 0, nil
}
