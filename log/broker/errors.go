package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/log/storage"
)

// errorCode maps an error to the Kafka error code the client should see.
// Unknown errors are UNKNOWN_SERVER_ERROR; the caller logs them.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, storage.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, storage.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, storage.ErrBatchTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, storage.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, storage.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, storage.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, storage.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, storage.ErrUnknownConfig), errors.Is(err, storage.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, errTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, errUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, errInvalidTopic), errors.Is(err, storage.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, errInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, errInvalidRequest):
		return kerr.InvalidRequest.Code
	case errors.Is(err, errInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, errInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

func strPtr(s string) *string { return &s }

func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	return strPtr(err.Error())
}

var (
	errInvalidRequest           = errors.New("invalid request")
	errInvalidReplicaAssignment = errors.New("invalid replica assignment")
	errInvalidReplicationFactor = errors.New("invalid replication factor")
)
