package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// errNull marks a JSON null where the caller needs to know it was null.
var errNotNullable = errors.New("null for a non-nullable field")

// convert turns one JSON value into the normalized Go value for dt (see
// appendValue); nil means null. It never panics on any input.
func convert(dt arrow.DataType, raw json.RawMessage, depth int) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if depth > maxTypeDepth {
		return nil, fmt.Errorf("value nested deeper than %d", maxTypeDepth)
	}
	switch {
	case IsUUID(dt):
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		return parseUUID(s)
	case IsJSON(dt):
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("invalid JSON: %v", err)
		}
		return buf.String(), nil
	}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		switch string(raw) {
		case "true", `"true"`:
			return true, nil
		case "false", `"false"`:
			return false, nil
		}
		return nil, fmt.Errorf("expected a boolean, got %s", snippet(raw))
	case *arrow.Int8Type:
		return jsonInt(raw, math.MinInt8, math.MaxInt8)
	case *arrow.Int16Type:
		return jsonInt(raw, math.MinInt16, math.MaxInt16)
	case *arrow.Int32Type:
		return jsonInt(raw, math.MinInt32, math.MaxInt32)
	case *arrow.Int64Type:
		return jsonInt(raw, math.MinInt64, math.MaxInt64)
	case *arrow.Uint8Type:
		return jsonUint(raw, math.MaxUint8)
	case *arrow.Uint16Type:
		return jsonUint(raw, math.MaxUint16)
	case *arrow.Uint32Type:
		return jsonUint(raw, math.MaxUint32)
	case *arrow.Uint64Type:
		return jsonUint(raw, math.MaxUint64)
	case *arrow.Float32Type, *arrow.Float64Type:
		return jsonFloat(raw)
	case *arrow.StringType:
		if raw[0] == '"' {
			return jsonString(raw)
		}
		if raw[0] == '{' || raw[0] == '[' {
			return nil, fmt.Errorf("expected a string, got %s", snippet(raw))
		}
		return string(raw), nil // numbers and booleans as their text
	case *arrow.BinaryType:
		return jsonBase64(raw)
	case *arrow.FixedSizeBinaryType:
		b, err := jsonBase64(raw)
		if err != nil {
			return nil, err
		}
		if len(b) != t.ByteWidth {
			return nil, fmt.Errorf("expected %d bytes, got %d", t.ByteWidth, len(b))
		}
		return b, nil
	case *arrow.Decimal128Type:
		s := string(raw)
		if raw[0] == '"' {
			var err error
			if s, err = jsonString(raw); err != nil {
				return nil, err
			}
		}
		return ParseDecimal(s, t.Precision, t.Scale)
	case *arrow.TimestampType:
		return jsonTimestamp(raw, t)
	case *arrow.Date32Type:
		if raw[0] != '"' {
			n, err := jsonInt(raw, math.MinInt32, math.MaxInt32)
			if err != nil {
				return nil, fmt.Errorf("expected a date (\"2006-01-02\" or days since 1970-01-01), got %s", snippet(raw))
			}
			return arrow.Date32(n.(int64)), nil
		}
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, fmt.Errorf("expected a date like 2006-01-02, got %q", truncate(s))
		}
		return arrow.Date32FromTime(d), nil
	case *arrow.Time64Type:
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		tm, err := time.Parse("15:04:05.999999999", s)
		if err != nil {
			return nil, fmt.Errorf("expected a time like 15:04:05.123456, got %q", truncate(s))
		}
		d := time.Duration(tm.Hour())*time.Hour + time.Duration(tm.Minute())*time.Minute +
			time.Duration(tm.Second())*time.Second + time.Duration(tm.Nanosecond())
		if t.Unit == arrow.Microsecond {
			return arrow.Time64(d / time.Microsecond), nil
		}
		return arrow.Time64(d), nil
	case *arrow.ListType:
		if raw[0] != '[' {
			return nil, fmt.Errorf("expected an array, got %s", snippet(raw))
		}
		var out []any
		err := jsonscan.EachElement(raw, maxJSONDepth-depth, func(it []byte) error {
			v, err := convert(t.Elem(), it, depth+1)
			if err != nil {
				return fmt.Errorf("[%d]: %w", len(out), err)
			}
			out = append(out, v)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	case *arrow.StructType:
		if raw[0] != '{' {
			return nil, fmt.Errorf("expected an object, got %s", snippet(raw))
		}
		vals := make([]json.RawMessage, t.NumFields())
		err := jsonscan.EachMember(raw, maxJSONDepth-depth, func(key []byte, escaped bool, val []byte) error {
			name, err := jsonscan.Name(key, escaped)
			if err != nil {
				return err
			}
			if i, ok := t.FieldIdx(name); ok {
				vals[i] = val
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("invalid object: %v", err)
		}
		out := make([]any, t.NumFields())
		for i, f := range t.Fields() {
			v, err := convert(f.Type, vals[i], depth+1)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", f.Name, err)
			}
			if v == nil && !f.Nullable {
				return nil, fmt.Errorf(".%s: %w", f.Name, errNotNullable)
			}
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

func snippet(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "..."
	}
	return string(raw)
}

func jsonFloat(raw []byte) (any, error) {
	if raw[0] == '"' {
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity", "+Infinity", "inf":
			return math.Inf(1), nil
		case "-Infinity", "-inf":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("expected a number, got %s", snippet(raw))
		}
		return f, nil
	}
	f, err := jsonscan.Float(raw)
	if err != nil {
		return nil, fmt.Errorf("expected a number, got %s", snippet(raw))
	}
	return f, nil
}

func jsonBase64(raw []byte) ([]byte, error) {
	s, err := jsonString(raw)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("expected base64: %v", err)
	}
	return b, nil
}

// timestampLayouts are tried in order; the first match wins.
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// ParseTimestamp parses the text forms a timestamp accepts: RFC 3339 (with
// T or a space, with or without a zone offset; no offset means UTC) or a
// bare date.
func ParseTimestamp(s string) (time.Time, error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("expected an RFC 3339 timestamp like 2006-01-02T15:04:05.999Z, got %q", truncate(s))
}

func jsonTimestamp(raw []byte, t *arrow.TimestampType) (any, error) {
	var tm time.Time
	if raw[0] == '"' {
		s, err := jsonString(raw)
		if err != nil {
			return nil, err
		}
		if tm, err = ParseTimestamp(s); err != nil {
			return nil, err
		}
	} else {
		ms, err := jsonInt(raw, math.MinInt64, math.MaxInt64)
		if err != nil {
			return nil, fmt.Errorf("expected a timestamp (RFC 3339 string or epoch milliseconds), got %s", snippet(raw))
		}
		tm = time.UnixMilli(ms.(int64)).UTC()
	}
	return timestampFromTime(tm, t.Unit)
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func timestampFromTime(tm time.Time, unit arrow.TimeUnit) (arrow.Timestamp, error) {
	switch unit {
	case arrow.Second:
		return arrow.Timestamp(tm.Unix()), nil
	case arrow.Millisecond:
		return arrow.Timestamp(tm.UnixMilli()), nil
	case arrow.Microsecond:
		return arrow.Timestamp(tm.UnixMicro()), nil
	}
	if tm.Before(minNanoTime) || tm.After(maxNanoTime) {
		return 0, fmt.Errorf("timestamp %s out of range for nanoseconds", tm.Format(time.RFC3339))
	}
	return arrow.Timestamp(tm.UnixNano()), nil
}

// parseUUID accepts the canonical 8-4-4-4-12 form, with or without dashes
// or braces.
func parseUUID(s string) ([]byte, error) {
	clean := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '-', '{', '}':
		default:
			clean = append(clean, c)
		}
	}
	if len(clean) != 32 {
		return nil, fmt.Errorf("expected a UUID, got %q", truncate(s))
	}
	out := make([]byte, 16)
	if _, err := hex.Decode(out, clean); err != nil {
		return nil, fmt.Errorf("expected a UUID, got %q", truncate(s))
	}
	return out, nil
}

// FormatUUID writes 16 bytes in the canonical 8-4-4-4-12 form.
func FormatUUID(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func timeParse(layout, s string) (time.Time, error) { return time.Parse(layout, s) }
