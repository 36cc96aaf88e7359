package operators

import (
	"log/slog"
	"time"
)

// Processor is the low-level API for logic the DSL cannot express: it sees
// every record, may read and write state stores, forward any number of
// records, and schedule punctuations. One instance is made per task, so a
// Processor needs no locking.
type Processor[KIn, VIn, KOut, VOut any] interface {
	// Init is called once before the first record, after the task's stores
	// are restored. Keep ctx to forward records and reach stores.
	Init(ctx ProcessorContext[KOut, VOut]) error
	// Process handles one record. An error fails the task.
	Process(rec Record[KIn, VIn]) error
	// Close is called when the task is closed (shutdown or reassignment).
	Close() error
}

// ProcessorFuncs adapts plain functions to a Processor; nil funcs are no-ops.
type ProcessorFuncs[KIn, VIn, KOut, VOut any] struct {
	InitFunc    func(ctx ProcessorContext[KOut, VOut]) error
	ProcessFunc func(ctx ProcessorContext[KOut, VOut], rec Record[KIn, VIn]) error
	CloseFunc   func() error

	ctx ProcessorContext[KOut, VOut]
}

// Init implements Processor.
func (p *ProcessorFuncs[KIn, VIn, KOut, VOut]) Init(ctx ProcessorContext[KOut, VOut]) error {
	p.ctx = ctx
	if p.InitFunc != nil {
		return p.InitFunc(ctx)
	}
	return nil
}

// Process implements Processor.
func (p *ProcessorFuncs[KIn, VIn, KOut, VOut]) Process(rec Record[KIn, VIn]) error {
	if p.ProcessFunc != nil {
		return p.ProcessFunc(p.ctx, rec)
	}
	return nil
}

// Close implements Processor.
func (p *ProcessorFuncs[KIn, VIn, KOut, VOut]) Close() error {
	if p.CloseFunc != nil {
		return p.CloseFunc()
	}
	return nil
}

// PunctuationType says which clock drives a scheduled punctuation.
type PunctuationType int

const (
	// StreamTime punctuations fire as the task's stream time (the largest
	// record timestamp it has seen) passes each interval. They do not fire
	// while no records arrive, and they are deterministic under replay.
	StreamTime PunctuationType = iota
	// WallClockTime punctuations fire on the system clock, whether or not
	// records arrive.
	WallClockTime
)

func (p PunctuationType) String() string {
	if p == WallClockTime {
		return "wall-clock"
	}
	return "stream-time"
}

// Cancellable cancels a scheduled punctuation.
type Cancellable interface{ Cancel() }

// TaskContext is what every processor can ask its task: identity, time,
// state stores and punctuation. Only this package implements it.
type TaskContext interface {
	// TaskID is the task this processor instance belongs to.
	TaskID() TaskID
	// ApplicationID is the application (consumer group) id.
	ApplicationID() string
	// StreamTime is the largest record timestamp the task has seen, or
	// NoTimestamp before the first record.
	StreamTime() int64
	// WallClock is the current system time (a test driver controls it).
	WallClock() time.Time
	// Schedule calls fn every interval of the given clock with the current
	// time of that clock in milliseconds. Records fn forwards go downstream
	// of the scheduling processor.
	Schedule(interval time.Duration, typ PunctuationType, fn func(ts int64) error) Cancellable
	// Logger carries the application and task ids.
	Logger() *slog.Logger

	task() *Task
}

// ProcessorContext is the TaskContext of a processor whose output records
// have keys K and values V.
type ProcessorContext[K, V any] interface {
	TaskContext
	// Forward sends rec to every child of this processor.
	Forward(rec Record[K, V])
}

// NoTimestamp is the stream time of a task that has seen no record yet.
const NoTimestamp int64 = -1 << 63
