package connectors

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

var errBadKey = errors.New("bad key")

type keyError struct{ key string }

func (e *keyError) Error() string { return "key " + e.key }

func TestRecordErrorsUnwrap(t *testing.T) {
	var refused RecordErrors
	refused.Add(1, fmt.Errorf("record key %q: %w", "x", errBadKey))
	refused.Add(4, &keyError{key: "y"})
	err := fmt.Errorf("sink write: %w", refused.Err())

	if !errors.Is(err, errBadKey) {
		t.Errorf("errors.Is(%v, errBadKey) = false through RecordErrors", err)
	}
	if errors.Is(err, io.EOF) {
		t.Errorf("errors.Is(%v, io.EOF) = true", err)
	}
	var ke *keyError
	if !errors.As(err, &ke) || ke.key != "y" {
		t.Errorf("errors.As(*keyError) = %v, %v", ke, err)
	}
	var re RecordError
	if !errors.As(err, &re) || re.Index != 1 {
		t.Errorf("errors.As(RecordError) found index %d, want the first refusal (1)", re.Index)
	}
	var all *RecordErrors
	if !errors.As(err, &all) || len(*all) != 2 {
		t.Errorf("errors.As(*RecordErrors) lost the list: %v", all)
	}
}

func TestIsRetriable(t *testing.T) {
	transient := Retriable(errors.New("connection refused"))
	var refusedTransient RecordErrors
	refusedTransient.Add(0, transient)
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"retriable", transient, true},
		{"wrapped", fmt.Errorf("write: %w", transient), true},
		{"joined", errors.Join(errors.New("a"), transient), true},
		{"joined plain", errors.Join(errors.New("a"), io.EOF), false},
		// A refusal is final even when its reason was marked retriable:
		// the worker must route it, not retry the batch forever.
		{"refused record", refusedTransient.Err(), false},
		{"wrapped refusal", fmt.Errorf("sink: %w", refusedTransient.Err()), false},
	}
	for _, c := range cases {
		if got := IsRetriable(c.err); got != c.want {
			t.Errorf("%s: IsRetriable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
