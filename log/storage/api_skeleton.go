package storage

import (
	"context"
	"errors"
	"time"
)

var errNotImplemented = errors.New("storage: not implemented yet")

// Log is one partition's log: an ordered sequence of record batches in
// segment files under one directory. One writer (Append, AppendReplicated,
// TruncateTo, Maintain) and any number of concurrent readers; readers never
// block the writer.
type Log struct{}

// Open opens (or creates) the partition log in dir and runs recovery.
func Open(dir string, cfg Config, opt Options) (*Log, error) { return nil, errNotImplemented }

// AppendOrigin says who is appending; control batches are refused from
// clients.
type AppendOrigin int8

const (
	OriginClient      AppendOrigin = 0 // a Produce request
	OriginCoordinator AppendOrigin = 1 // the broker itself (transaction markers, group offsets)
)

// AppendOptions are per-append settings chosen by the broker.
type AppendOptions struct {
	LeaderEpoch int32        // written into every batch's partitionLeaderEpoch
	Origin      AppendOrigin // OriginClient refuses control batches
}

// AppendInfo describes an append.
type AppendInfo struct {
	BaseOffset, LastOffset int64
	LogAppendTime          int64 // -1 unless the topic uses LogAppendTime
	Records                int
	Duplicate              bool // idempotent retry: offsets are the original ones, nothing was written
}

// ReadResult is the answer to a Read.
type ReadResult struct {
	Data                                            []byte
	HighWatermark, LastStableOffset, LogStartOffset int64
}

func (l *Log) Append(records []byte, o AppendOptions) (AppendInfo, error) {
	return AppendInfo{}, errNotImplemented
}
func (l *Log) AppendReplicated(records []byte, leaderEpoch int32) error { return errNotImplemented }
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (ReadResult, error) {
	return ReadResult{}, errNotImplemented
}
func (l *Log) LogStartOffset() int64  { return 0 }
func (l *Log) LogEndOffset() int64    { return 0 }
func (l *Log) HighWatermark() int64   { return 0 }
func (l *Log) SetHighWatermark(int64) {}
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, err error) {
	return -1, -1, errNotImplemented
}
func (l *Log) MaxTimestamp() (offset, timestamp int64)                            { return -1, -1 }
func (l *Log) DeleteRecordsBefore(offset int64) (int64, error)                    { return 0, errNotImplemented }
func (l *Log) TruncateTo(offset int64) error                                      { return errNotImplemented }
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) { return -1, -1 }
func (l *Log) Flush() error                                                       { return errNotImplemented }
func (l *Log) SetConfig(cfg Config)                                               {}
func (l *Log) Maintain(now time.Time) error                                       { return errNotImplemented }
func (l *Log) Size() int64                                                        { return 0 }
func (l *Log) Close() error                                                       { return nil }

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Manager holds every partition log under one data directory, as
// <dataDir>/<topic>-<partition>/.
type Manager struct{}

func OpenManager(dataDir string, opt Options) (*Manager, error)     { return nil, errNotImplemented }
func (m *Manager) Open(tp TopicPartition, cfg Config) (*Log, error) { return nil, errNotImplemented }
func (m *Manager) Get(tp TopicPartition) *Log                       { return nil }
func (m *Manager) Delete(tp TopicPartition) error                   { return errNotImplemented }
func (m *Manager) OnDisk() ([]TopicPartition, error)                { return nil, errNotImplemented }
func (m *Manager) Run(ctx context.Context)                          { <-ctx.Done() }
func (m *Manager) Close() error                                     { return nil }
