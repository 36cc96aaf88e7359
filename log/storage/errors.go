package storage

import "errors"

// Sentinel errors. The broker maps them to Kafka error codes at the protocol
// edge; everything else is an internal (storage) error. Errors returned by
// this package wrap these with context, so compare with errors.Is.
var (
	// ErrCorruptBatch: a batch failed validation (length, magic, CRC,
	// record count). Kafka: CORRUPT_MESSAGE.
	ErrCorruptBatch = errors.New("corrupt record batch")
	// ErrInvalidRecord: a batch is well formed but not acceptable (for
	// example a control batch from a client, or a compacted topic without
	// keys). Kafka: INVALID_RECORD.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrBatchTooLarge: a batch is larger than max.message.bytes or the
	// engine's MaxBatchBytes. Kafka: MESSAGE_TOO_LARGE.
	ErrBatchTooLarge = errors.New("record batch too large")
	// ErrOffsetOutOfRange: a read or truncation offset outside
	// [LogStartOffset, LogEndOffset]. Kafka: OFFSET_OUT_OF_RANGE.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrOutOfOrderSequence: an idempotent producer's sequence has a gap.
	// Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: an idempotent producer's epoch is older than
	// the one seen. Kafka: INVALID_PRODUCER_EPOCH (or PRODUCER_FENCED).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrUnknownProducerID: a producer id the log has no state for sent a
	// sequence that is not the start of a stream. Kafka:
	// UNKNOWN_PRODUCER_ID.
	ErrUnknownProducerID = errors.New("unknown producer id")
	// ErrInvalidTimestamp: a CreateTime batch's timestamp is not usable.
	// Kafka: INVALID_TIMESTAMP.
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	// ErrClosed: the log (or manager) is closed.
	ErrClosed = errors.New("log closed")
	// ErrNoOffsetForTimestamp: no record has a timestamp at or after the
	// one asked for. ListOffsets answers -1.
	ErrNoOffsetForTimestamp = errors.New("no offset for timestamp")
	// ErrLogFailed: an I/O error (a failed fsync, a write that could not
	// be undone) left the log's files possibly out of step with memory;
	// it refuses writes until reopened, which runs recovery. Kafka:
	// KAFKA_STORAGE_ERROR.
	ErrLogFailed = errors.New("log failed after an I/O error")
)

// Configuration errors from ParseTopicConfig. The broker maps both to
// INVALID_CONFIG.
var (
	ErrUnknownConfig = errors.New("unknown config key")
	ErrInvalidConfig = errors.New("invalid config value")
)
