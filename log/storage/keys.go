package storage

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// InvalidRecordError names the record of an appended batch that was
// refused, so the broker can report it per record (ProduceResponse
// RecordErrors, KIP-467). It wraps ErrInvalidRecord.
type InvalidRecordError struct {
	Batch  int // index of the batch in the append
	Record int // index of the record in its batch
	Reason string
}

func (e *InvalidRecordError) Error() string {
	return fmt.Sprintf("batch %d, record %d: %s", e.Batch, e.Record, e.Reason)
}

func (e *InvalidRecordError) Unwrap() error { return ErrInvalidRecord }

// checkCompactedBatch decodes the records of a batch produced to a
// compacted topic, decompressing within maxDecompressed bytes, and refuses
// a record without a key: compaction keeps the newest record per key, so
// a keyless record could never be compacted (Kafka answers
// INVALID_RECORD). Decoding also checks what the header alone cannot for
// a compressed batch: that the body holds exactly RecordCount records,
// with offset deltas 0, 1, 2, ... as the header's offset span says. Only
// compacted topics pay for this; other appends never decode records.
func checkCompactedBatch(b []byte, h *header, batch, maxDecompressed int) error {
	body, err := decompress(h.Codec(), b[batchHeaderSize:h.Size()], maxDecompressed)
	if err != nil {
		return fmt.Errorf("batch %d: %w", batch, err)
	}
	i := 0
	err = forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
		if int64(r.OffsetDelta) != int64(i) {
			return &InvalidRecordError{Batch: batch, Record: i, Reason: fmt.Sprintf("offset delta %d, want %d (deltas must count up from 0)", r.OffsetDelta, i)}
		}
		if r.Key == nil {
			return &InvalidRecordError{Batch: batch, Record: i, Reason: "null key; every record of a compacted topic (cleanup.policy=compact) needs a key"}
		}
		i++
		return nil
	})
	if err != nil {
		if _, ok := err.(*InvalidRecordError); ok {
			return err
		}
		return fmt.Errorf("batch %d: header says %d records: %w", batch, h.RecordCount, err)
	}
	return nil
}
