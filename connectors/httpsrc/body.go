package httpsrc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Body formats.
const (
	FormatJSON   = "json"   // one JSON value; an array is one record per element
	FormatNDJSON = "ndjson" // one JSON value per line
)

// BodyError says what is wrong with a request body and where: Line is the
// 1-based line of an NDJSON body, Record the 1-based element of a JSON
// array; both zero means the body as a whole.
type BodyError struct {
	Line   int    `json:"line,omitempty"`
	Record int    `json:"record,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"error"`
	// TooLarge marks a body refused for a limit (413) rather than its
	// content (400).
	TooLarge bool `json:"-"`
}

func (e *BodyError) Error() string {
	where := ""
	switch {
	case e.Line > 0:
		where = fmt.Sprintf("line %d: ", e.Line)
	case e.Record > 0:
		where = fmt.Sprintf("record %d: ", e.Record)
	}
	if e.Field != "" {
		where += fmt.Sprintf("field %q: ", e.Field)
	}
	return where + e.Reason
}

// bodyLimits are the decoder's limits; they come from the config.
type bodyLimits struct {
	maxRecords int
	keyField   string // top-level field giving the record key; "" for none
}

// item is one record decoded from a body: its value and, when a key field
// is configured, its key.
type item struct {
	value []byte
	key   []byte
}

// decodeBody splits a body into records. It is all or nothing: the first
// bad record fails the whole body, so a client never has to guess which
// part of a rejected request was written. Values are returned as they
// appear in the body (trimmed), not re-encoded.
func decodeBody(body []byte, format string, lim bodyLimits) ([]item, *BodyError) {
	switch format {
	case FormatNDJSON:
		return decodeNDJSON(body, lim)
	default:
		return decodeJSON(body, lim)
	}
}

func decodeNDJSON(body []byte, lim bodyLimits) ([]item, *BodyError) {
	var items []item
	line := 0
	for len(body) > 0 {
		line++
		var raw []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			raw, body = body[:i], body[i+1:]
		} else {
			raw, body = body, nil
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue // blank lines (and a trailing newline) are not records
		}
		if len(items) == lim.maxRecords {
			return nil, &BodyError{Reason: fmt.Sprintf("more than %d records in one request", lim.maxRecords), TooLarge: true}
		}
		it, err := decodeItem(raw, line, lim)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return nil, &BodyError{Reason: "empty body: no records"}
	}
	return items, nil
}

func decodeJSON(body []byte, lim bodyLimits) ([]item, *BodyError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, &BodyError{Reason: "empty body: no records"}
	}
	if body[0] != '[' {
		it, err := decodeItem(body, 0, lim)
		if err != nil {
			return nil, err
		}
		return []item{it}, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, &BodyError{Reason: "invalid JSON: " + jsonReason(err)}
	}
	if len(elems) == 0 {
		return nil, &BodyError{Reason: "empty array: no records"}
	}
	if len(elems) > lim.maxRecords {
		return nil, &BodyError{Reason: fmt.Sprintf("%d records in one request; the limit is %d", len(elems), lim.maxRecords), TooLarge: true}
	}
	items := make([]item, len(elems))
	for i, e := range elems {
		it, err := decodeItem(bytes.TrimSpace(e), 0, lim)
		if err != nil {
			err.Record = i + 1
			return nil, err
		}
		items[i] = it
	}
	return items, nil
}

// decodeItem checks one record's JSON and extracts its key.
func decodeItem(raw []byte, line int, lim bodyLimits) (item, *BodyError) {
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return item{}, &BodyError{Line: line, Reason: "invalid JSON: " + jsonReason(err)}
	}
	it := item{value: raw}
	if lim.keyField == "" {
		return it, nil
	}
	if raw[0] != '{' {
		return item{}, &BodyError{Line: line, Field: lim.keyField, Reason: "record is not a JSON object, so it has no key field"}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return item{}, &BodyError{Line: line, Reason: "invalid JSON: " + jsonReason(err)}
	}
	kv, ok := obj[lim.keyField]
	if !ok {
		return item{}, &BodyError{Line: line, Field: lim.keyField, Reason: "missing key field"}
	}
	key, err := keyText(kv)
	if err != nil {
		return item{}, &BodyError{Line: line, Field: lim.keyField, Reason: err.Error()}
	}
	it.key = key
	return it, nil
}

// keyText is the key of a record: a string's text or a number as written.
func keyText(raw json.RawMessage) ([]byte, error) {
	switch {
	case len(raw) == 0:
		return nil, fmt.Errorf("empty key")
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("bad string: %v", err)
		}
		if s == "" {
			return nil, fmt.Errorf("key is an empty string")
		}
		return []byte(s), nil
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return raw, nil
	case string(raw) == "null":
		return nil, fmt.Errorf("key is null")
	}
	return nil, fmt.Errorf("key must be a string or a number, got %s", kindOf(raw))
}

func kindOf(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	}
	return "a value of another type"
}

// jsonReason makes encoding/json's error short and positional.
func jsonReason(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10)
	}
	if err == nil {
		return "invalid"
	}
	return err.Error()
}
