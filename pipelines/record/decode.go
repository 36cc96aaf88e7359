package record

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// ErrSyntax is wrapped by every decoding error (besides
// jsonscan.ErrSyntax, and jsonscan.ErrTooDeep for nesting beyond MaxDepth).
var ErrSyntax = errors.New("invalid JSON record")

// MaxDepth bounds the nesting of arrays and objects in a record, so a
// hostile value cannot exhaust the stack.
const MaxDepth = 64

// Decode parses a JSON object into a map. Numbers become float64, as with
// encoding/json; strings, booleans, null, arrays ([]any) and nested objects
// (map[string]any) as there too.
func Decode(data []byte) (map[string]any, error) {
	return decode(data, nil)
}

// decode parses with an optional table of field names to reuse: a name
// found there costs no allocation.
func decode(data []byte, names map[string]string) (map[string]any, error) {
	d := jsonscan.Decoder{MaxDepth: MaxDepth, Names: names}
	m, err := d.DecodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	return m, nil
}
