package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// RecordBatch v2 header layout (all big endian). The CRC covers everything
// from attributes to the end of the batch, so baseOffset, batchLength and
// partitionLeaderEpoch can be rewritten without recomputing it.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	batchHeaderSize = 61 // bytes before the first record
	logOverhead     = 12 // baseOffset + batchLength: bytes not counted in batchLength
	minBatchLength  = batchHeaderSize - logOverhead

	attrCompressionMask  = 0x07
	attrTimestampType    = 0x08
	attrTransactional    = 0x10
	attrControl          = 0x20
	attrHasDeleteHorizon = 0x40
)

// Compression codecs, as in the attributes' low three bits.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// header is a parsed RecordBatch v2 header. It never holds records.
type header struct {
	BaseOffset      int64
	BatchLength     int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// parseHeader decodes a header from b, which must hold batchHeaderSize
// bytes. It does not validate anything.
func parseHeader(b []byte) header {
	_ = b[batchHeaderSize-1]
	return header{
		BaseOffset:      int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:     int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		LeaderEpoch:     int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:           int8(b[offMagic]),
		CRC:             binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:      int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta: int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:   int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:    int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:      int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:   int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:    int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:     int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
}

// Size is the batch's total size on disk, header included.
func (h *header) Size() int             { return int(h.BatchLength) + logOverhead }
func (h *header) LastOffset() int64     { return h.BaseOffset + int64(h.LastOffsetDelta) }
func (h *header) Codec() int            { return int(h.Attributes & attrCompressionMask) }
func (h *header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }
func (h *header) IsControl() bool       { return h.Attributes&attrControl != 0 }
func (h *header) IsLogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }
func (h *header) HasProducer() bool     { return h.ProducerID >= 0 }

// LastSequence is the sequence of the batch's last record, wrapping at
// MaxInt32 as Kafka does.
func (h *header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return -1
	}
	return seqAdd(h.BaseSequence, h.LastOffsetDelta)
}

func seqAdd(seq, delta int32) int32 {
	n := int64(seq) + int64(delta)
	if n > 1<<31-1 {
		n -= 1 << 31
	}
	return int32(n)
}

// batchError describes why bytes are not a valid batch. Truncated means
// the bytes simply ended early (a torn write at the end of a file), as
// opposed to bytes that are present but wrong.
type batchError struct {
	Reason    string
	Truncated bool
}

func (e *batchError) Error() string { return e.Reason }
func (e *batchError) Unwrap() error { return ErrCorruptBatch }

func corrupt(format string, args ...any) error {
	return &batchError{Reason: fmt.Sprintf(format, args...)}
}

// checkFrame validates the frame of the batch at the start of b without
// reading its body: enough bytes for a header, a sane length no larger than
// maxSize, and magic 2. It returns the parsed header. Lengths are checked
// before anything is sized from them.
func checkFrame(b []byte, maxSize int) (header, error) {
	if len(b) < logOverhead {
		return header{}, &batchError{Reason: fmt.Sprintf("%d bytes, shorter than a batch's length prefix", len(b)), Truncated: true}
	}
	bl := int32(binary.BigEndian.Uint32(b[offBatchLength:]))
	if bl < minBatchLength {
		return header{}, corrupt("batch length %d below the minimum %d", bl, minBatchLength)
	}
	size := int64(bl) + logOverhead
	if size > int64(maxSize) {
		return header{}, fmt.Errorf("batch of %d bytes exceeds the limit of %d: %w", size, maxSize, ErrBatchTooLarge)
	}
	if len(b) < batchHeaderSize {
		return header{}, &batchError{Reason: fmt.Sprintf("%d bytes, shorter than a batch header", len(b)), Truncated: true}
	}
	h := parseHeader(b)
	if h.Magic != 2 {
		return h, corrupt("magic %d, want 2", h.Magic)
	}
	if int64(len(b)) < size {
		return h, &batchError{Reason: fmt.Sprintf("batch of %d bytes but only %d present", size, len(b)), Truncated: true}
	}
	return h, nil
}

// validateBatch checks the whole batch at the start of b: frame, CRC-32C and
// header consistency. client selects the stricter rules for produced
// batches (records present, offsets dense from zero). It returns the header;
// the batch is b[:h.Size()].
func validateBatch(b []byte, maxSize int, client bool) (header, error) {
	h, err := checkFrame(b, maxSize)
	if err != nil {
		return h, err
	}
	size := h.Size()
	if got := crc32.Checksum(b[offAttributes:size], crcTable); got != h.CRC {
		return h, corrupt("CRC mismatch: stored %#08x, computed %#08x", h.CRC, got)
	}
	if err := checkHeader(&h, client); err != nil {
		return h, err
	}
	return h, nil
}

// checkHeader validates header fields that do not need the body.
func checkHeader(h *header, client bool) error {
	if h.RecordCount < 0 {
		return corrupt("negative record count %d", h.RecordCount)
	}
	if h.LastOffsetDelta < 0 {
		return corrupt("negative last offset delta %d", h.LastOffsetDelta)
	}
	if h.Codec() > codecZstd {
		return corrupt("unknown compression codec %d", h.Codec())
	}
	// Every record takes at least 7 bytes on the wire (length, attributes,
	// timestamp delta, offset delta, key and value lengths, header count),
	// so a count the body cannot hold is corrupt; compressed bodies are
	// checked when (if ever) they are decompressed.
	if h.Codec() == codecNone && int64(h.RecordCount)*7 > int64(h.BatchLength-minBatchLength) {
		return corrupt("record count %d does not fit in %d bytes of records", h.RecordCount, h.BatchLength-minBatchLength)
	}
	if client {
		if h.RecordCount == 0 {
			return corrupt("batch has no records")
		}
		if h.LastOffsetDelta != h.RecordCount-1 {
			return corrupt("last offset delta %d does not match record count %d", h.LastOffsetDelta, h.RecordCount)
		}
	} else if int64(h.RecordCount) > int64(h.LastOffsetDelta)+1 {
		return corrupt("record count %d exceeds the offset span %d", h.RecordCount, int64(h.LastOffsetDelta)+1)
	}
	if h.BaseOffset < 0 && !client {
		return corrupt("negative base offset %d", h.BaseOffset)
	}
	return nil
}

// setBaseOffset rewrites the base offset in place; it is not covered by the
// CRC.
func setBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

func setLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// setLogAppendTime marks the batch's timestamps as LogAppendTime with the
// given time and recomputes the CRC, which covers both fields.
func setLogAppendTime(b []byte, h *header, ts int64) {
	h.Attributes |= attrTimestampType
	h.MaxTimestamp = ts
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	h.CRC = crc32.Checksum(b[offAttributes:h.Size()], crcTable)
	binary.BigEndian.PutUint32(b[offCRC:], h.CRC)
}
