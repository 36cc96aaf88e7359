package record

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Type is the type of a declared field.
type Type uint8

// Field types. Any leaves a value as JSON decoded it.
const (
	Any Type = iota
	String
	Int64
	Float64
	Bool
	Time
)

func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Int64:
		return "int64"
	case Float64:
		return "float64"
	case Bool:
		return "bool"
	case Time:
		return "timestamp"
	}
	return "any"
}

// Field is a declared field.
type Field struct {
	Name string
	Type Type
}

// Codec decodes and encodes records of one shape. Fields lists what is
// known about the record: decoded values of those fields are converted to
// their types (an int64 field holds int64, a timestamp holds time.Time),
// and encoding writes them first, in order.
type Codec struct {
	Fields []Field
	order  []string
	names  map[string]string
}

// NewCodec returns a codec for records with the given known fields.
func NewCodec(fields []Field) *Codec {
	c := &Codec{Fields: fields, names: map[string]string{}}
	for _, f := range fields {
		c.order = append(c.order, f.Name)
		c.names[f.Name] = f.Name
	}
	return c
}

// Decode parses a record and converts its declared fields.
func (c *Codec) Decode(data []byte) (map[string]any, error) {
	m, err := decode(data, c.names)
	if err != nil {
		return nil, err
	}
	for _, f := range c.Fields {
		if f.Type == Any {
			continue
		}
		v, ok := m[f.Name]
		if !ok || v == nil {
			continue
		}
		cv, err := Convert(v, f.Type)
		if err != nil {
			return nil, fmt.Errorf("%w: field %q: %v", ErrSyntax, f.Name, err)
		}
		m[f.Name] = cv
	}
	return m, nil
}

// Encode appends the record as JSON.
func (c *Codec) Encode(dst []byte, m map[string]any) ([]byte, error) {
	return AppendJSON(dst, m, c.order)
}

// Convert converts a decoded JSON value to a declared type.
func Convert(v any, t Type) (any, error) {
	switch t {
	case String:
		switch x := v.(type) {
		case string:
			return x, nil
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(x), nil
		case time.Time:
			return x.UTC().Format(time.RFC3339Nano), nil
		}
	case Int64:
		switch x := v.(type) {
		case float64:
			if x != math.Trunc(x) || x < -9.2e18 || x > 9.2e18 {
				return nil, fmt.Errorf("%v is not a whole number", x)
			}
			return int64(x), nil
		case int64:
			return x, nil
		case int:
			return int64(x), nil
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a whole number", x)
			}
			return n, nil
		}
	case Float64:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case int:
			return float64(x), nil
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not a number", x)
			}
			return f, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Time:
		return ToTime(v)
	case Any:
		return v, nil
	}
	return nil, fmt.Errorf("cannot use %s as %s", describe(v), t)
}

// ToTime reads a time: a time.Time, epoch milliseconds, or an RFC 3339
// string (with or without fractional seconds).
func ToTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x, nil
	case float64:
		return time.UnixMilli(int64(x)).UTC(), nil
	case int64:
		return time.UnixMilli(x).UTC(), nil
	case int:
		return time.UnixMilli(int64(x)).UTC(), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", x)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot use %s as a time", describe(v))
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%v", v)
}

// KeyString renders a key expression's value as the record key: strings
// as they are, numbers without a trailing ".0", anything else as JSON.
func KeyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	b, err := AppendValue(nil, v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
