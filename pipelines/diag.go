package pipelines

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrInvalid is wrapped by the error Load and Compile return when a
// pipeline file has problems; callers branch on it to tell "your file is
// wrong" (exit 1 with the list) from "the broker is down".
var ErrInvalid = errors.New("invalid pipeline")

// Pos is a position in a pipeline file. Line and Col are 1-based, as
// editors and compilers print them; a zero Line means "the whole file".
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Diagnostic is one problem found in a pipeline file: where, what, and a
// hint on how to fix it (a did-you-mean, the valid choices, an example).
type Diagnostic struct {
	Pos  Pos
	Msg  string
	Hint string
}

// String renders the diagnostic the way compilers do, so editors can jump
// to it: "file:line:col: message (hint: ...)".
func (d Diagnostic) String() string {
	if d.Hint == "" {
		return d.Pos.String() + ": " + d.Msg
	}
	return d.Pos.String() + ": " + d.Msg + " (hint: " + d.Hint + ")"
}

// Diagnostics is every problem found, in file order. Lint reports all of
// them at once rather than stopping at the first.
type Diagnostics []Diagnostic

func (ds *Diagnostics) add(p Pos, hint, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// Sort orders diagnostics by file, line and column, keeping the discovery
// order for problems at the same place.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil when there are no diagnostics, and otherwise an error
// that wraps ErrInvalid and lists them all, one per line.
func (ds Diagnostics) Err() error {
	if len(ds) == 0 {
		return nil
	}
	return &InvalidError{Diagnostics: ds}
}

// InvalidError carries the diagnostics of a file that did not lint clean.
type InvalidError struct {
	Diagnostics Diagnostics
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d problem(s) in pipeline file(s):", len(e.Diagnostics))
	for _, d := range e.Diagnostics {
		b.WriteString("\n")
		b.WriteString(d.String())
	}
	return b.String()
}

func (e *InvalidError) Unwrap() error { return ErrInvalid }
