package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// lastEpochTag is the tagged field of TxnMetadataValue v1 that carries the
// previous producer epoch. Kafka keeps it only in memory, which loses a
// KIP-360 retry across a coordinator move; Kafka readers skip unknown tags.
const lastEpochTag = 1000

// maxIDBytes bounds a transactional id (Kafka's is the int16 string limit).
const maxIDBytes = 1<<15 - 1

func encodeKey(id string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = 0
	k.TransactionalID = id
	return k.AppendTo(nil)
}

func encodeValue(m *meta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = 1
	v.ProducerID = m.producerID
	v.ProducerEpoch = m.epoch
	v.TimeoutMillis = m.timeoutMs
	v.State = kmsg.TransactionState(m.state)
	v.LastUpdateTimestamp = m.updateMs
	v.StartTimestamp = m.startMs
	v.PreviousProducerID = m.lastProducerID
	var le [2]byte
	binary.BigEndian.PutUint16(le[:], uint16(m.lastEpoch))
	v.UnknownTags.Set(lastEpochTag, le[:])
	for i := 0; i < len(m.parts); {
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic = m.parts[i].Topic
		for ; i < len(m.parts) && m.parts[i].Topic == t.Topic; i++ {
			t.Partitions = append(t.Partitions, m.parts[i].Partition)
		}
		v.Topics = append(v.Topics, t)
	}
	return v.AppendTo(nil)
}

var errBadRecord = errors.New("malformed __transaction_state record")

// decodeRecord parses one record. A nil value (tombstone) returns nil meta.
func decodeRecord(key, value []byte) (string, *meta, error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if k.Version != 0 {
		return "", nil, fmt.Errorf("%w: key version %d", errBadRecord, k.Version)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return k.TransactionalID, nil, fmt.Errorf("%w: value of %q: %v", errBadRecord, k.TransactionalID, err)
	}
	if v.State < 0 || State(v.State) > PrepareEpochFence {
		return k.TransactionalID, nil, fmt.Errorf("%w: %q has state %d", errBadRecord, k.TransactionalID, v.State)
	}
	m := &meta{
		producerID: v.ProducerID, lastProducerID: v.PreviousProducerID,
		epoch: v.ProducerEpoch, lastEpoch: noEpoch,
		timeoutMs: v.TimeoutMillis, state: State(v.State),
		startMs: v.StartTimestamp, updateMs: v.LastUpdateTimestamp,
	}
	v.UnknownTags.Each(func(tag uint32, b []byte) {
		if tag == lastEpochTag && len(b) == 2 {
			m.lastEpoch = int16(binary.BigEndian.Uint16(b))
		}
	})
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts = append(m.parts, TopicPartition{t.Topic, p})
		}
	}
	sortParts(m.parts)
	return k.TransactionalID, m, nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// encodeBatch builds an uncompressed RecordBatch v2 with one record; a nil
// value is a tombstone. The log assigns the offset.
func encodeBatch(key, value []byte, nowMs int64) []byte {
	rec := kmsg.Record{Key: key, Value: value}
	inner := rec.AppendTo(nil)
	// Record.AppendTo writes the Length field (0) first; re-encode with
	// the length of everything after it.
	rec.Length = int32(len(inner) - 1)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		FirstTimestamp:       nowMs,
		MaxTimestamp:         nowMs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           1,
		Records:              rec.AppendTo(nil),
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32c))
	return out
}

// decodeBatches walks concatenated record batches (already CRC-checked by
// storage) and calls fn for each record of each non-control batch. It
// stops with an error only at structural damage.
func decodeBatches(data []byte, fn func(key, value []byte) error) error {
	for len(data) >= 12 {
		n := int(int32(binary.BigEndian.Uint32(data[8:12])))
		if n < 49 || len(data) < 12+n {
			return nil // a partial trailing batch
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data[:12+n]); err != nil {
			return fmt.Errorf("%w: %v", errBadRecord, err)
		}
		data = data[12+n:]
		if b.Attributes&0x20 != 0 || b.Attributes&0x7 != 0 {
			// Control batches carry no transaction state; the
			// coordinator never writes compressed batches.
			continue
		}
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			u, sz := binary.Uvarint(recs)
			l := int64(u>>1) ^ -int64(u&1)
			if sz <= 0 || l < 0 || int64(len(recs)-sz) < l {
				return fmt.Errorf("%w: record %d length", errBadRecord, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:sz+int(l)]); err != nil {
				return fmt.Errorf("%w: record %d: %v", errBadRecord, i, err)
			}
			recs = recs[sz+int(l):]
			if err := fn(r.Key, r.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextOffset returns the offset after the last whole batch in data, or -1.
func nextOffset(data []byte) int64 {
	next := int64(-1)
	for len(data) >= 61 {
		n := int(int32(binary.BigEndian.Uint32(data[8:12])))
		if n < 49 || len(data) < 12+n {
			break
		}
		next = int64(binary.BigEndian.Uint64(data)) + int64(int32(binary.BigEndian.Uint32(data[23:27]))) + 1
		data = data[12+n:]
	}
	return next
}
