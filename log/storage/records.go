package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// forEachRecord decodes the records of an uncompressed records section
// (the bytes after a batch header, decompressed if need be), calling fn for
// each. It stops at the first malformed record. Only off-hot-path code uses
// it: compaction, timestamp lookup, transaction markers.
func forEachRecord(body []byte, count int32, fn func(r *kmsg.Record) error) error {
	for i := int32(0); i < count; i++ {
		l, n := binary.Varint(body)
		if n <= 0 || l < 0 || int64(len(body)-n) < l {
			return corrupt("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(body[:n+int(l)]); err != nil {
			return corrupt("record %d: %v", i, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
		body = body[n+int(l):]
	}
	if len(body) != 0 {
		return corrupt("%d bytes after the last of %d records", len(body), count)
	}
	return nil
}

// parseControlMarker decodes a transaction marker batch's control record:
// key = version int16, type int16 (0 abort, 1 commit); value = version
// int16, coordinator epoch int32. Other control types are not markers.
func parseControlMarker(batch []byte, h *header) (controlMarker, error) {
	if h.Codec() != codecNone || h.RecordCount < 1 {
		return controlMarker{}, fmt.Errorf("control batch at offset %d: %w", h.BaseOffset, ErrInvalidRecord)
	}
	var m controlMarker
	var once bool
	err := forEachRecord(batch[batchHeaderSize:h.Size()], h.RecordCount, func(r *kmsg.Record) error {
		if once {
			return nil
		}
		once = true
		if len(r.Key) < 4 {
			return fmt.Errorf("control record key of %d bytes: %w", len(r.Key), ErrInvalidRecord)
		}
		switch binary.BigEndian.Uint16(r.Key[2:]) {
		case 0:
			m.ok = true
		case 1:
			m.ok, m.commit = true, true
		default:
			return nil
		}
		if len(r.Value) >= 6 {
			m.coordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		}
		return nil
	})
	return m, err
}

// appendRecord appends r to dst with its length prefix computed (kmsg
// encodes Length as given).
func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	r.TimestampDelta = int32(r.TimestampDelta64)
	start := len(dst)
	dst = r.AppendTo(dst) // a zero length encodes as one byte
	n := len(dst) - start - 1
	var lb [binary.MaxVarintLen32]byte
	ln := binary.PutVarint(lb[:], int64(n))
	if ln == 1 {
		dst[start] = lb[0]
		return dst
	}
	dst = append(dst, lb[:ln-1]...)
	copy(dst[start+ln:], dst[start+1:start+1+n])
	copy(dst[start:], lb[:ln])
	return dst
}
