package storage

import (
	"log/slog"
	"time"
)

// Options are engine-wide settings: the limits the engine enforces whatever
// the topic says, and the hooks tests replace.
type Options struct {
	// MaxBatchBytes caps the size of one record batch, whatever the topic's
	// max.message.bytes says. It bounds memory per append and per recovery
	// step. 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int32
	// MaxOpenFiles caps the file handles kept open for closed (non-active)
	// segments of one Manager (or one Log opened alone); they live in an LRU
	// and are reopened on demand. 0 means DefaultMaxOpenFiles.
	MaxOpenFiles int
	// Logger receives recovery, truncation and retention events. nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for LogAppendTime, segment.ms and retention. nil
	// means time.Now.
	Now func() time.Time
}

// Engine-wide defaults.
const (
	DefaultMaxBatchBytes = 64 << 20
	DefaultMaxOpenFiles  = 1024
)

func (o Options) withDefaults() Options {
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = DefaultMaxOpenFiles
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
