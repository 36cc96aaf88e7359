package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/txn"
	"github.com/sluicehq/sluice/log/wire"
)

// txnStateTopic is Kafka's internal topic for transaction state.
const txnStateTopic = "__transaction_state"

// openTxns creates __transaction_state on first start, loads the
// transaction coordinator from it and completes transactions a crash left
// half-ended. Groups must be loaded first: completing a transaction applies
// its pending offsets.
func (b *Broker) openTxns() error {
	t := b.topics.get(txnStateTopic)
	if t == nil {
		var err error
		t, err = b.createTopic(txnStateTopic, b.cfg.TxnStateTopicPartitions, map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    "104857600",
			"compression.type": "producer",
		}, true, false)
		if err != nil {
			return fmt.Errorf("creating %s: %w", txnStateTopic, err)
		}
	}
	logs := make([]txn.StateLog, len(t.parts))
	for i, p := range t.parts {
		logs[i] = internalLog{b, p}
	}
	tc := b.cfg.Transactions
	if tc.Registerer == nil {
		tc.Registerer = b.metrics.reg
	}
	b.txns = txn.New(tc, logs, txnBroker{b}, b.log.With("component", "transactions"))
	if err := b.txns.Load(context.Background()); err != nil {
		return err
	}
	return nil
}

// txnBroker is the broker as the transaction coordinator drives it.
type txnBroker struct{ b *Broker }

func (tb txnBroker) PartitionExists(topic string, partition int32) bool {
	return tb.b.topics.exists(topic, partition)
}

func (tb txnBroker) NewProducerID() (int64, error) { return tb.b.producerIDs.allocate() }

// WriteMarker appends a transaction marker to a partition log, wakes its
// long-polling fetches (the last stable offset moved), and for a
// __consumer_offsets partition applies or drops the transaction's pending
// offsets.
func (tb txnBroker) WriteMarker(tp txn.TopicPartition, producerID int64, epoch int16, commit bool) error {
	b := tb.b
	p := b.topics.partition(tp.Topic, tp.Partition)
	if p == nil {
		return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, txn.ErrPartitionGone)
	}
	if p.offline != nil {
		return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, p.offline)
	}
	batch := markerBatch(producerID, epoch, commit, time.Now().UnixMilli())
	p.appendMu.Lock()
	_, err := p.log.Append(batch, storage.AppendOptions{LeaderEpoch: leaderEpoch, Origin: storage.OriginCoordinator})
	if err == nil {
		p.log.SetHighWatermark(p.log.LogEndOffset())
	}
	p.appendMu.Unlock()
	if errors.Is(err, storage.ErrClosed) && b.topics.partition(tp.Topic, tp.Partition) != p {
		return fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, txn.ErrPartitionGone) // deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("%s-%d: writing transaction marker: %w", tp.Topic, tp.Partition, err)
	}
	p.notify()
	if tp.Topic == offsetsTopic {
		b.groups.CompleteTxn(tp.Partition, producerID, commit)
	}
	return nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// markerBatch builds a transaction marker: a control batch of the producer
// with one record whose key is (version 0, type: 0 abort, 1 commit) and
// whose value is (version 0, coordinator epoch), as Kafka writes them. A
// single node's coordinator epoch is always 0.
func markerBatch(producerID int64, epoch int16, commit bool, nowMs int64) []byte {
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	rec := kmsg.Record{Key: key, Value: []byte{0, 0, 0, 0, 0, 0}}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           attrTransactional | attrControl,
		FirstTimestamp:       nowMs,
		MaxTimestamp:         nowMs,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              rec.AppendTo(nil),
	}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32c))
	return out
}

// Record batch header layout (RecordBatch v2).
const (
	batchHeaderSize   = 61
	attributesOffset  = 21
	producerIDOffset  = 43
	epochOffset       = 51
	sequenceOffset    = 53
	attrTransactional = 0x10
	attrControl       = 0x20
)

// transactionalProducer reports the producer of records when its first
// batch is a transactional data batch. Only the first batch matters:
// storage refuses a producer batch that is not alone in its append.
func transactionalProducer(records []byte) (pid int64, epoch int16, ok bool) {
	if len(records) < batchHeaderSize || records[magicOffset] != 2 {
		return 0, 0, false
	}
	attrs := binary.BigEndian.Uint16(records[attributesOffset:])
	if attrs&attrTransactional == 0 || attrs&attrControl != 0 {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(records[producerIDOffset:])), int16(binary.BigEndian.Uint16(records[epochOffset:])), true
}

// verifyTxnAppend checks a transactional batch against the coordinator. The
// caller holds p.appendMu, which orders the check before any marker the
// coordinator writes to p afterwards.
func (b *Broker) verifyTxnAppend(pid int64, epoch int16, p *partition) error {
	if b.txns == nil {
		return fmt.Errorf("%s-%d: transaction coordinator not loaded", p.topic, p.index)
	}
	return b.txns.VerifyAppend(pid, epoch, txn.TopicPartition{Topic: p.topic, Partition: p.index})
}

// nextSequence is the sequence a coordinator-written batch of pid at epoch
// takes in l: one past the producer's last, or 0 in a new epoch. Only the
// group coordinator writes producer batches to internal topics, one at a
// time under the partition's append lock, so the log's state is exact.
func nextSequence(l *storage.Log, pid int64, epoch int16) int32 {
	for _, ps := range l.Producers() {
		if ps.ProducerID != pid {
			continue
		}
		if ps.Epoch != epoch || ps.LastSequence < 0 || ps.LastSequence == 1<<31-1 {
			return 0
		}
		return ps.LastSequence + 1
	}
	return 0
}

// setSequence rewrites a batch's base sequence and its CRC.
func setSequence(batch []byte, seq int32) {
	binary.BigEndian.PutUint32(batch[sequenceOffset:], uint32(seq))
	binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[attributesOffset:], crc32c))
}

func (c *conn) handleAddPartitionsToTxn(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.txns.AddPartitionsToTxn(r.(*kmsg.AddPartitionsToTxnRequest)), nil
}

func (c *conn) handleAddOffsetsToTxn(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AddOffsetsToTxnRequest)
	return c.b.txns.AddOffsetsToTxn(req, offsetsTopic, c.b.groups.PartitionFor(req.Group)), nil
}

func (c *conn) handleEndTxn(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.txns.EndTxn(c.ctx, r.(*kmsg.EndTxnRequest)), nil
}

func (c *conn) handleTxnOffsetCommit(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.TxnOffsetCommit(r.(*kmsg.TxnOffsetCommitRequest), c.b.topics.exists), nil
}

func (c *conn) handleDescribeTransactions(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.txns.DescribeTransactions(r.(*kmsg.DescribeTransactionsRequest)), nil
}

func (c *conn) handleListTransactions(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.txns.ListTransactions(r.(*kmsg.ListTransactionsRequest)), nil
}
