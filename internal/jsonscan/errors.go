package jsonscan

import (
	"errors"
	"fmt"
)

// ErrSyntax is matched (errors.Is) by every error this package returns for
// input that is not JSON.
var ErrSyntax = errors.New("invalid JSON")

// ErrTooDeep is matched, besides ErrSyntax, when a value nests deeper than
// the caller's limit: the input may be valid JSON, just more than the
// caller accepts.
var ErrTooDeep = errors.New("JSON nested too deeply")

// SyntaxError says what is wrong with the input and where.
type SyntaxError struct {
	Offset int    // byte offset in the input where the problem is
	Msg    string // what is wrong there
	deep   bool
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// Is reports ErrSyntax for every syntax error, and ErrTooDeep for a depth
// limit.
func (e *SyntaxError) Is(target error) bool {
	return target == ErrSyntax || e.deep && target == ErrTooDeep
}

func errAt(i int, msg string) error { return &SyntaxError{Offset: i, Msg: msg} }

func errDepth(i, max int) error {
	return &SyntaxError{Offset: i, Msg: fmt.Sprintf("nested deeper than %d levels", max), deep: true}
}

func errUnexpected(b []byte, i int) error {
	if i >= len(b) {
		return errAt(i, "unexpected end of input")
	}
	return errAt(i, fmt.Sprintf("unexpected %q", b[i]))
}
