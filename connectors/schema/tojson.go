package schema

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// RowJSON appends row i of rec to dst as a JSON object with the fields in
// schema order (nulls written as null), in the text forms the package doc
// lists, so RecordBuilder.AppendJSON reads it back to the same values.
func RowJSON(dst []byte, rec arrow.Record, i int) ([]byte, error) {
	if i < 0 || int64(i) >= rec.NumRows() {
		return dst, fmt.Errorf("row %d out of range [0, %d)", i, rec.NumRows())
	}
	dst = append(dst, '{')
	for c, f := range rec.Schema().Fields() {
		if c > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, f.Name)
		dst = append(dst, ':')
		var err error
		if dst, err = ValueJSON(dst, rec.Column(c), i); err != nil {
			return dst, fmt.Errorf("field %q: %w", f.Name, err)
		}
	}
	return append(dst, '}'), nil
}

// RecordJSON returns every row of rec as a JSON object.
func RecordJSON(rec arrow.Record) ([][]byte, error) {
	out := make([][]byte, rec.NumRows())
	for i := range out {
		b, err := RowJSON(nil, rec, i)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // escapes like encoding/json; never fails for a string
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ValueJSON appends element i of arr as JSON.
func ValueJSON(dst []byte, arr arrow.Array, i int) ([]byte, error) {
	if arr.IsNull(i) {
		return append(dst, "null"...), nil
	}
	dt := arr.DataType()
	switch {
	case IsUUID(dt):
		b := arr.(array.ExtensionArray).Storage().(*array.FixedSizeBinary).Value(i)
		return appendJSONString(dst, FormatUUID(b)), nil
	case IsJSON(dt):
		s := arr.(array.ExtensionArray).Storage().(*array.String).Value(i)
		if !json.Valid([]byte(s)) {
			return dst, fmt.Errorf("json value is not valid JSON: %s", snippet([]byte(s)))
		}
		return append(dst, s...), nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return strconv.AppendBool(dst, a.Value(i)), nil
	case *array.Int8:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int16:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int32:
		return strconv.AppendInt(dst, int64(a.Value(i)), 10), nil
	case *array.Int64:
		return strconv.AppendInt(dst, a.Value(i), 10), nil
	case *array.Uint8:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint16:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint32:
		return strconv.AppendUint(dst, uint64(a.Value(i)), 10), nil
	case *array.Uint64:
		return strconv.AppendUint(dst, a.Value(i), 10), nil
	case *array.Float32:
		return appendFloat(dst, float64(a.Value(i)), 32), nil
	case *array.Float64:
		return appendFloat(dst, a.Value(i), 64), nil
	case *array.String:
		return appendJSONString(dst, a.Value(i)), nil
	case *array.Binary:
		return appendJSONString(dst, base64.StdEncoding.EncodeToString(a.Value(i))), nil
	case *array.FixedSizeBinary:
		return appendJSONString(dst, base64.StdEncoding.EncodeToString(a.Value(i))), nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return appendJSONString(dst, FormatDecimal(a.Value(i), scale)), nil
	case *array.Timestamp:
		t := a.DataType().(*arrow.TimestampType)
		return appendJSONString(dst, FormatTimestamp(a.Value(i).ToTime(t.Unit), t.TimeZone != "")), nil
	case *array.Date32:
		return appendJSONString(dst, a.Value(i).ToTime().Format("2006-01-02")), nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return appendJSONString(dst, a.Value(i).ToTime(unit).Format("15:04:05.999999999")), nil
	case *array.List:
		start, end := a.ValueOffsets(i)
		vals := a.ListValues()
		dst = append(dst, '[')
		for j := start; j < end; j++ {
			if j > start {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = ValueJSON(dst, vals, int(j)); err != nil {
				return dst, fmt.Errorf("[%d]: %w", j-start, err)
			}
		}
		return append(dst, ']'), nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		dst = append(dst, '{')
		for f := 0; f < a.NumField(); f++ {
			if f > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, st.Field(f).Name)
			dst = append(dst, ':')
			var err error
			if dst, err = ValueJSON(dst, a.Field(f), i); err != nil {
				return dst, fmt.Errorf(".%s: %w", st.Field(f).Name, err)
			}
		}
		return append(dst, '}'), nil
	}
	return dst, fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// FormatTimestamp writes t in RFC 3339 with as many fractional digits as it
// needs, in UTC; withZone adds the "Z".
func FormatTimestamp(t time.Time, withZone bool) string {
	if withZone {
		return t.UTC().Format(time.RFC3339Nano)
	}
	return t.UTC().Format("2006-01-02T15:04:05.999999999")
}
