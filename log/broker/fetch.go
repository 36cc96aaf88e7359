package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/wire"
)

// partitionRead is the outcome of reading one partition for a fetch.
type partitionRead struct {
	sp      *sessionPartition
	code    int16
	data    []byte
	hw, lso int64
	start   int64
	// aborted: read_committed only, the aborted transactions overlapping
	// data, so that the consumer drops their records.
	aborted []storage.AbortedTransaction
}

func (c *conn) handleFetch(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.FetchRequest)
	b := c.b
	resp := kmsg.NewPtrFetchResponse()
	plan := b.plan(req, h.Version)
	if plan.errCode != 0 {
		resp.ErrorCode = plan.errCode
		return resp, nil
	}
	if plan.session != nil {
		resp.SessionID = plan.session.id
	}

	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	if wait > b.cfg.MaxFetchWait {
		wait = b.cfg.MaxFetchWait
	}
	var deadline <-chan time.Time
	var wake chan struct{}
	var registered []*partition
	defer func() {
		for _, p := range registered {
			p.unwait(wake)
		}
	}()
	var reads []partitionRead
	for {
		if wait > 0 && wake == nil {
			// Register before reading so an append between the read
			// and the wait is not missed.
			wake = make(chan struct{}, 1)
			for _, sp := range plan.parts {
				if p := b.topics.partition(sp.topic, sp.partition); p != nil {
					p.wait(wake)
					registered = append(registered, p)
				}
			}
		}
		var total int
		var anyErr bool
		reads, total, anyErr = b.readPartitions(plan.parts, req, reads[:0])
		if wait <= 0 || anyErr || total >= int(req.MinBytes) || c.ctx.Err() != nil {
			break
		}
		if deadline == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-wake:
			// Re-arm: notify removed us from every partition's list.
			for _, p := range registered {
				p.unwait(wake)
			}
			registered = registered[:0]
			wake = nil
			continue
		case <-deadline:
		case <-c.ctx.Done():
		}
		reads, _, _ = b.readPartitions(plan.parts, req, reads[:0])
		break
	}
	b.fillFetchResponse(resp, reads, plan, h.Version)
	return resp, nil
}

// readPartitions reads every planned partition within the request's byte
// limits. The first partition with data may exceed the limits (by one
// batch) so that a consumer always makes progress (KIP-74).
func (b *Broker) readPartitions(parts []*sessionPartition, req *kmsg.FetchRequest, out []partitionRead) ([]partitionRead, int, bool) {
	budget := int(req.MaxBytes)
	if budget <= 0 {
		budget = int(^uint32(0) >> 1)
	}
	total := 0
	anyErr := false
	for _, sp := range parts {
		pr := partitionRead{sp: sp, hw: -1, lso: -1, start: -1}
		p := b.topics.partition(sp.topic, sp.partition)
		switch {
		case p == nil && sp.topic == "" && req.Version >= 13:
			pr.code = kerr.UnknownTopicID.Code
		case p == nil:
			pr.code = kerr.UnknownTopicOrPartition.Code
		case p.offline != nil:
			pr.code = kerr.KafkaStorageError.Code
		default:
			max := int(sp.maxBytes)
			if rem := budget - total; rem < max {
				max = rem
			}
			if max < 0 {
				max = 0
			}
			// read_uncommitted reads up to the high watermark,
			// read_committed up to the last stable offset (the
			// first offset of the oldest open transaction).
			pr.hw = p.log.HighWatermark()
			limit := pr.hw
			if req.IsolationLevel == 1 {
				limit = p.log.LastStableOffset()
			}
			var res storage.ReadResult
			var err error
			if max == 0 && total > 0 {
				res = storage.ReadResult{HighWatermark: pr.hw, LastStableOffset: p.log.LastStableOffset(), LogStartOffset: p.log.LogStartOffset()}
			} else {
				res, err = p.log.Read(sp.fetchOffset, max, limit)
			}
			if err != nil {
				pr.code = errorCode(err)
				if !errors.Is(err, storage.ErrOffsetOutOfRange) {
					b.log.Error("fetch read failed", "topic", sp.topic, "partition", sp.partition, "offset", sp.fetchOffset, "err", err)
				}
				pr.hw, pr.lso, pr.start = p.log.HighWatermark(), p.log.LastStableOffset(), p.log.LogStartOffset()
			} else {
				pr.data = res.Data
				pr.hw, pr.lso, pr.start = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
				total += len(res.Data)
				if req.IsolationLevel == 1 && len(res.Data) > 0 {
					pr.aborted = p.log.AbortedTransactions(sp.fetchOffset, nextOffset(res.Data))
				}
			}
		}
		if pr.code != 0 {
			anyErr = true
		}
		out = append(out, pr)
	}
	return out, total, anyErr
}

// fillFetchResponse writes reads into resp. Incremental session responses
// leave out partitions with nothing new to say.
func (b *Broker) fillFetchResponse(resp *kmsg.FetchResponse, reads []partitionRead, plan fetchPlan, version int16) {
	if plan.session != nil {
		plan.session.mu.Lock()
		defer plan.session.mu.Unlock()
	}
	if plan.session != nil {
		rotateServed(plan.session, reads)
	}
	var cur *kmsg.FetchResponseTopic
	for i := range reads {
		pr := &reads[i]
		sp := pr.sp
		if plan.incremental && pr.code == 0 && len(pr.data) == 0 && sp.sent &&
			sp.hw == pr.hw && sp.lso == pr.lso && sp.logStart == pr.start {
			continue
		}
		sp.sent, sp.hw, sp.lso, sp.logStart = true, pr.hw, pr.lso, pr.start
		if cur == nil || cur.Topic != sp.topic || cur.TopicID != sp.topicID {
			// One entry per topic even when a session's rotation has
			// interleaved topics.
			cur = nil
			for j := range resp.Topics {
				if resp.Topics[j].Topic == sp.topic && resp.Topics[j].TopicID == sp.topicID {
					cur = &resp.Topics[j]
					break
				}
			}
			if cur == nil {
				resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
				cur = &resp.Topics[len(resp.Topics)-1]
				cur.Topic, cur.TopicID = sp.topic, sp.topicID
			}
		}
		fp := kmsg.NewFetchResponseTopicPartition()
		fp.Partition = sp.partition
		fp.ErrorCode = pr.code
		fp.HighWatermark, fp.LastStableOffset, fp.LogStartOffset = pr.hw, pr.lso, pr.start
		fp.RecordBatches = pr.data
		for _, a := range pr.aborted {
			at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
			at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
			fp.AbortedTransactions = append(fp.AbortedTransactions, at)
		}
		if fp.RecordBatches == nil {
			// Empty, not null: librdkafka cannot parse a null record set.
			fp.RecordBatches = []byte{}
		}
		b.metrics.fetchedBytes.Add(float64(len(pr.data)))
		cur.Partitions = append(cur.Partitions, fp)
	}
}

// rotateServed moves the session's partitions that returned data behind the
// rest, as Kafka does, so that under a tight response size limit the next
// fetch starts with partitions that got nothing this time. The caller holds
// the session lock.
func rotateServed(s *fetchSession, reads []partitionRead) {
	served := make(map[*sessionPartition]bool)
	for i := range reads {
		if len(reads[i].data) > 0 {
			served[reads[i].sp] = true
		}
	}
	if len(served) == 0 || len(served) == len(s.parts) {
		return
	}
	rest := make([]*sessionPartition, 0, len(s.parts))
	var tail []*sessionPartition
	for _, sp := range s.parts {
		if served[sp] {
			tail = append(tail, sp)
		} else {
			rest = append(rest, sp)
		}
	}
	s.parts = append(rest, tail...)
}
