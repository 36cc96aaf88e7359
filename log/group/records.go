package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// kv is one record of __consumer_offsets; a nil value is a tombstone.
type kv struct{ key, value []byte }

// encodeBatch builds an uncompressed RecordBatch v2 holding recs, with the
// CRC filled in. The base offset is 0; the log assigns the real one.
func encodeBatch(recs []kv, nowMs int64) []byte {
	return encodeProducerBatch(recs, nowMs, -1, -1)
}

// attrTransactional is the RecordBatch attribute of transactional batches.
const attrTransactional = 0x10

// encodeProducerBatch is encodeBatch for a transactional producer
// (producerID >= 0): the batch carries its id and epoch, sequence 0 (the
// partition log assigns the real sequence, see PartitionLog) and the
// transactional attribute, so that the log tracks it as part of the
// producer's transaction until the coordinator's marker.
func encodeProducerBatch(recs []kv, nowMs int64, producerID int64, epoch int16) []byte {
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value}
		inner := rec.AppendTo(nil)
		// Record.AppendTo writes the Length field we left at 0 first;
		// re-encode with the real length of everything after it.
		rec.Length = int32(len(inner) - 1)
		body = rec.AppendTo(body)
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       nowMs,
		MaxTimestamp:         nowMs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	if producerID >= 0 {
		b.ProducerID, b.ProducerEpoch, b.FirstSequence = producerID, epoch, 0
		b.Attributes = attrTransactional
	}
	out := b.AppendTo(nil)
	// Length counts everything after the length field (offset 8..12).
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	// CRC-32C covers attributes (offset 21) to the end.
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32c))
	return out
}

var errBadBatch = errors.New("malformed __consumer_offsets batch")

// logRecord is one record of __consumer_offsets with what its batch says
// about transactions.
type logRecord struct {
	offset     int64
	key, value []byte
	// producerID is the producer of a transactional batch (a
	// TxnOffsetCommit, or a marker), -1 otherwise.
	producerID int64
	// marker: a transaction marker (control record); commit says which.
	marker, commit bool
}

// decodeBatches walks concatenated record batches and calls fn for each
// record, including the transaction markers of control batches. It stops
// with an error only at structural damage (storage has already checked
// CRCs); a partial trailing batch ends the walk, and next says where to
// read on.
func decodeBatches(data []byte, fn func(logRecord)) (next int64, err error) {
	next = -1
	for len(data) >= 12 {
		n := int(int32(binary.BigEndian.Uint32(data[8:12])))
		if n < 49 || len(data) < 12+n {
			break // a partial trailing batch: the caller reads on from next
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data[:12+n]); err != nil {
			return next, fmt.Errorf("%w: %v", errBadBatch, err)
		}
		data = data[12+n:]
		next = b.FirstOffset + int64(b.LastOffsetDelta) + 1
		if b.Attributes&0x7 != 0 {
			continue // the coordinator never writes compressed batches
		}
		control := b.Attributes&0x20 != 0
		pid := int64(-1)
		if b.Attributes&attrTransactional != 0 {
			pid = b.ProducerID
		}
		recs := b.Records
		for i := int32(0); i < b.NumRecords; i++ {
			l, sz := varint(recs)
			if sz <= 0 || l < 0 || int64(len(recs)-sz) < l {
				return next, fmt.Errorf("%w: record %d length", errBadBatch, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(recs[:sz+int(l)]); err != nil {
				return next, fmt.Errorf("%w: record %d: %v", errBadBatch, i, err)
			}
			recs = recs[sz+int(l):]
			lr := logRecord{offset: b.FirstOffset + int64(r.OffsetDelta), key: r.Key, value: r.Value, producerID: pid}
			if control {
				// A marker's key is version int16, type int16
				// (0 abort, 1 commit).
				if pid < 0 || len(r.Key) < 4 {
					continue
				}
				lr.marker, lr.commit = true, binary.BigEndian.Uint16(r.Key[2:]) == 1
			}
			fn(lr)
		}
	}
	return next, nil
}

func varint(b []byte) (int64, int) {
	u, n := binary.Uvarint(b)
	return int64(u>>1) ^ -int64(u&1), n
}
