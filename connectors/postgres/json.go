package postgres

import (
	"fmt"

	"github.com/parquet-go/jsonlite"
)

// MaxJSONDepth bounds how deeply a record's JSON may nest. Deeper documents
// are refused before parsing, so hostile input cannot exhaust the stack.
const MaxJSONDepth = 64

// parseJSON parses one JSON document from a record.
func parseJSON(b []byte) (*jsonlite.Value, error) {
	if err := checkDepth(b, MaxJSONDepth); err != nil {
		return nil, err
	}
	v, err := jsonlite.ParseMaxDepth(string(b), MaxJSONDepth+1)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return v, nil
}

// parseObject parses a record value that must be a JSON object.
func parseObject(b []byte) (*jsonlite.Value, error) {
	v, err := parseJSON(b)
	if err != nil {
		return nil, err
	}
	if v.Kind() != jsonlite.Object {
		return nil, fmt.Errorf("%w: a JSON object is needed, got %s", ErrBadValue, kindName(v.Kind()))
	}
	return v, nil
}

// checkDepth reports an error when arrays and objects in b nest deeper than
// max. It only counts brackets outside strings; parsing validates the rest.
func checkDepth(b []byte, max int) error {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > max {
				return fmt.Errorf("invalid JSON: nested deeper than %d levels at byte %d", max, i)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// stringValue makes a JSON string value holding s.
func stringValue(s string) (*jsonlite.Value, error) {
	v, err := jsonlite.Parse(jsonlite.Quote(s))
	if err != nil {
		return nil, fmt.Errorf("string %q: %w", s, err)
	}
	return v, nil
}
