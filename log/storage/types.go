package storage

// AppendOrigin says who is appending. Control batches (transaction markers)
// are refused from clients.
type AppendOrigin int8

const (
	OriginClient      AppendOrigin = 0 // a Produce request
	OriginCoordinator AppendOrigin = 1 // the broker itself: transaction markers, internal topics
)

// AppendOptions are per-append settings chosen by the broker.
type AppendOptions struct {
	// LeaderEpoch is written into every batch's partitionLeaderEpoch and
	// feeds the leader-epoch cache.
	LeaderEpoch int32
	Origin      AppendOrigin
}

// AppendInfo describes an append.
type AppendInfo struct {
	BaseOffset, LastOffset int64
	// LogAppendTime is the broker time written into the batches for
	// LogAppendTime topics, -1 otherwise (the ProduceResponse field).
	LogAppendTime int64
	Records       int
	// Duplicate: an idempotent retry of a batch already in the log;
	// nothing was written and the offsets are the original ones.
	Duplicate bool
}
