package postgres

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// encKind says how a JSON value becomes the text PostgreSQL parses for a
// column. Values go to the server in COPY's text format, so PostgreSQL's own
// input functions do the type conversion (and report a bad value with the
// line it is on); the sink only translates the JSON conventions of
// connectors/schema that PostgreSQL does not read natively.
type encKind uint8

const (
	// encText: a JSON string gives its content, anything else its JSON text
	// (numbers, booleans; objects and arrays for text columns).
	encText encKind = iota
	// encJSON: the JSON text itself (json, jsonb).
	encJSON
	// encBytea: a base64 string, written as \x hex.
	encBytea
	// encTimestamp: an RFC 3339 string, or a number of epoch milliseconds.
	encTimestamp
	// encDate: "2006-01-02", or a number of days since the epoch.
	encDate
	// encBool: JSON booleans as t/f; strings and numbers as given.
	encBool
)

// encoder converts JSON values for one column.
type encoder struct {
	kind  encKind
	array bool // the column is an array of kind
	delim byte // array element delimiter (',' for all but box)
}

// encoderFor picks the encoder for a column type.
func encoderFor(t typeInfo) encoder {
	if t.Category == 'A' && t.Elem != 0 {
		e := encoderFor(typeInfo{OID: t.Elem, Category: t.ElemCat})
		e.array = true
		e.delim = ','
		if t.ElemName == "box" {
			e.delim = ';'
		}
		return e
	}
	switch t.OID {
	case pgtype.JSONOID, pgtype.JSONBOID:
		return encoder{kind: encJSON}
	case pgtype.ByteaOID:
		return encoder{kind: encBytea}
	case pgtype.TimestampOID, pgtype.TimestamptzOID:
		return encoder{kind: encTimestamp}
	case pgtype.DateOID:
		return encoder{kind: encDate}
	case pgtype.BoolOID:
		return encoder{kind: encBool}
	}
	return encoder{kind: encText}
}

// appendCopy appends v as one field of a COPY text-format row: \N for null
// (or a missing field, v == nil), otherwise the escaped text.
func (e encoder) appendCopy(buf []byte, v *jvalue, scratch *[]byte) ([]byte, error) {
	if v == nil || v.Kind() == kNull {
		return append(buf, `\N`...), nil
	}
	if e.array && v.Kind() == kArray {
		s := (*scratch)[:0]
		s, err := e.appendArray(s, v, 0)
		*scratch = s
		if err != nil {
			return buf, err
		}
		return appendCopyEscaped(buf, s), nil
	}
	if v.Kind() == kString && (e.kind == encText || e.kind == encTimestamp || e.kind == encDate || e.kind == encBool || e.array) {
		// The common case: the value's text is the string content.
		return appendCopyEscaped(buf, unquote(v)), nil
	}
	s := (*scratch)[:0]
	s, err := e.appendScalar(s, v)
	*scratch = s
	if err != nil {
		return buf, err
	}
	return appendCopyEscaped(buf, s), nil
}

// text returns v as the text PostgreSQL parses for the column (not COPY
// escaped); ok is false for null. Used for keys in DELETE statements.
func (e encoder) text(v *jvalue) (s string, ok bool, err error) {
	if v == nil || v.Kind() == kNull {
		return "", false, nil
	}
	var b []byte
	if e.array && v.Kind() == kArray {
		b, err = e.appendArray(nil, v, 0)
	} else {
		b, err = e.appendScalar(nil, v)
	}
	return string(b), err == nil, err
}

// appendScalar appends the unescaped text of a non-null, non-array value.
func (e encoder) appendScalar(b []byte, v *jvalue) ([]byte, error) {
	k := v.Kind()
	switch e.kind {
	case encJSON:
		return append(b, v.JSON()...), nil
	case encBytea:
		if k != kString {
			return b, fmt.Errorf("bytea value must be a base64 string, got %s", kindName(k))
		}
		raw, err := decodeBase64(unquote(v))
		if err != nil {
			return b, fmt.Errorf("bytea value is not base64: %w", err)
		}
		b = append(b, `\x`...)
		return hex.AppendEncode(b, raw), nil
	case encTimestamp:
		if k == kNumber {
			ms, err := strconv.ParseFloat(v.JSON(), 64)
			if err != nil {
				return b, fmt.Errorf("timestamp %s is not epoch milliseconds", v.JSON())
			}
			t := time.UnixMicro(int64(ms * 1000)).UTC()
			return t.AppendFormat(b, "2006-01-02 15:04:05.999999Z07:00"), nil
		}
	case encDate:
		if k == kNumber {
			days, err := strconv.ParseInt(v.JSON(), 10, 32)
			if err != nil {
				return b, fmt.Errorf("date %s is not a number of days since 1970-01-01", v.JSON())
			}
			return time.Unix(days*86400, 0).UTC().AppendFormat(b, "2006-01-02"), nil
		}
	case encBool:
		switch k {
		case kTrue:
			return append(b, 't'), nil
		case kFalse:
			return append(b, 'f'), nil
		}
	}
	if k == kString {
		return append(b, unquote(v)...), nil
	}
	return append(b, v.JSON()...), nil
}

// appendArray appends a PostgreSQL array literal ({"a","b",NULL}) for a JSON
// array; nested JSON arrays become nested dimensions.
func (e encoder) appendArray(b []byte, v *jvalue, depth int) ([]byte, error) {
	if depth > 6 { // PostgreSQL's MAXDIM
		return b, fmt.Errorf("array nested deeper than PostgreSQL's 6 dimensions")
	}
	b = append(b, '{')
	first := true
	var err error
	v.Array(func(el *jvalue) bool {
		if !first {
			b = append(b, e.delim)
		}
		first = false
		switch {
		case el.Kind() == kNull:
			b = append(b, "NULL"...)
		case el.Kind() == kArray && e.kind != encJSON:
			b, err = e.appendArray(b, el, depth+1)
		default:
			var s []byte
			s, err = e.appendScalar(nil, el)
			b = appendArrayQuoted(b, s)
		}
		return err == nil
	})
	return append(b, '}'), err
}

// appendArrayQuoted appends s as a double-quoted array element.
func appendArrayQuoted(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		if c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, c)
	}
	return append(b, '"')
}

// appendCopyEscaped appends s escaped for COPY's text format: backslash,
// newline, carriage return and tab are backslash sequences.
func appendCopyEscaped[S ~string | ~[]byte](b []byte, s S) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '\\':
			esc = `\\`
		case '\n':
			esc = `\n`
		case '\r':
			esc = `\r`
		case '\t':
			esc = `\t`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}

func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

func kindName(k jkind) string {
	switch k {
	case kNull:
		return "null"
	case kTrue, kFalse:
		return "a boolean"
	case kNumber:
		return "a number"
	case kString:
		return "a string"
	case kObject:
		return "an object"
	case kArray:
		return "an array"
	}
	return "an unknown value"
}
