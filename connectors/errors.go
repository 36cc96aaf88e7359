package connectors

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors callers branch on.
var (
	// ErrUnknownPlugin means no plugin is registered under the name.
	ErrUnknownPlugin = errors.New("unknown connector plugin")
	// ErrInvalidConfig means a connector config failed validation; the
	// error is a *ConfigError listing every bad field.
	ErrInvalidConfig = errors.New("invalid connector config")
)

type retriable struct{ err error }

func (r retriable) Error() string { return r.err.Error() }
func (r retriable) Unwrap() error { return r.err }

// Retriable marks err as transient (a connection refused, a timeout, a
// database restarting): the worker retries the call with exponential backoff
// instead of failing the task. Retriable(nil) is nil.
func Retriable(err error) error {
	if err == nil {
		return nil
	}
	return retriable{err}
}

// IsRetriable reports whether err (or any error it wraps) was marked with
// Retriable. Refused records are final: a Retriable error inside
// *RecordErrors does not make the error retriable, so the worker routes the
// refusals instead of retrying the whole batch.
func IsRetriable(err error) bool {
	for err != nil {
		switch e := err.(type) {
		case retriable:
			return true
		case *RecordErrors:
			return false
		case interface{ Unwrap() error }:
			err = e.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				if IsRetriable(inner) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	return false
}

// RecordError says why the record at Index of the batch given to Write (or
// of a ColumnBatch's Records, counted across the batches in order) was
// refused.
type RecordError struct {
	Index int
	Err   error
}

func (e RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }
func (e RecordError) Unwrap() error { return e.Err }

// RecordErrors is returned by Sink.Write when the sink accepted the batch
// except for the listed records, which it refused for good (bad data, not a
// transient failure). With errors.tolerance=all the worker skips them and
// sends them to the dead-letter topic; with none the task fails.
type RecordErrors []RecordError

func (e *RecordErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d record(s) refused", len(*e))
	for i, re := range *e {
		if i == 3 {
			fmt.Fprintf(&b, "; ...")
			break
		}
		fmt.Fprintf(&b, "; %v", re)
	}
	return b.String()
}

// Unwrap returns the refusals, so errors.Is and errors.As see the reasons
// (errors.Is(err, postgres.ErrBadKey) is true when any record was refused
// for a bad key). Each element is a RecordError, which unwraps to its Err.
func (e *RecordErrors) Unwrap() []error {
	out := make([]error, len(*e))
	for i, re := range *e {
		out[i] = re
	}
	return out
}

// Add appends a refusal of record index.
func (e *RecordErrors) Add(index int, err error) { *e = append(*e, RecordError{index, err}) }

// Err returns e as an error, or nil when nothing was refused.
func (e *RecordErrors) Err() error {
	if e == nil || len(*e) == 0 {
		return nil
	}
	return e
}
