package parquet

// Leaf values of Parquet columns as JSON, and their Arrow types: the
// encoding connectors/schema describes (decimals as strings, timestamps as
// RFC 3339, UUIDs in canonical form, binary as base64).

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow/go/v17/arrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluicehq/sluice/connectors/schema"
)

// leafConverter returns the JSON writer and Arrow type of a leaf column.
func leafConverter(t pq.Type) (func([]byte, pq.Value) []byte, arrow.DataType, error) {
	lt := t.LogicalType()
	if lt != nil && lt.Value != nil {
		switch l := lt.Value.(type) {
		case *format.StringType, *format.EnumType:
			return appendStringValue, arrow.BinaryTypes.String, nil
		case *format.JsonType:
			return appendJSONValue, schema.JSON(), nil
		case *format.UUIDType:
			return appendUUIDValue, schema.UUID(), nil
		case *format.DateType:
			return appendDateValue, arrow.FixedWidthTypes.Date32, nil
		case *format.DecimalType:
			dt := &arrow.Decimal128Type{Precision: l.Precision, Scale: l.Scale}
			if l.Precision > 38 {
				return appendDecimalValue(l.Scale), &arrow.Decimal256Type{Precision: l.Precision, Scale: l.Scale}, nil
			}
			return appendDecimalValue(l.Scale), dt, nil
		case *format.TimestampType:
			unit, scale := timeUnit(l.Unit)
			tz := ""
			if l.IsAdjustedToUTC {
				tz = "UTC"
			}
			return appendTimestampValue(scale, l.IsAdjustedToUTC), &arrow.TimestampType{Unit: unit, TimeZone: tz}, nil
		case *format.TimeType:
			unit, scale := timeUnit(l.Unit)
			var dt arrow.DataType = &arrow.Time64Type{Unit: unit}
			if unit == arrow.Millisecond {
				dt = &arrow.Time32Type{Unit: unit}
			}
			return appendTimeValue(scale), dt, nil
		case *format.IntType:
			return intType(l.BitWidth, l.IsSigned)
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.UTF8, deprecated.Enum:
			return appendStringValue, arrow.BinaryTypes.String, nil
		case deprecated.Json:
			return appendJSONValue, schema.JSON(), nil
		case deprecated.Date:
			return appendDateValue, arrow.FixedWidthTypes.Date32, nil
		case deprecated.TimestampMillis:
			return appendTimestampValue(int64(time.Millisecond), true), &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}, nil
		case deprecated.TimestampMicros:
			return appendTimestampValue(int64(time.Microsecond), true), &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
		case deprecated.Int8:
			return intType(8, true)
		case deprecated.Int16:
			return intType(16, true)
		case deprecated.Int32:
			return intType(32, true)
		case deprecated.Int64:
			return intType(64, true)
		case deprecated.Uint8:
			return intType(8, false)
		case deprecated.Uint16:
			return intType(16, false)
		case deprecated.Uint32:
			return intType(32, false)
		case deprecated.Uint64:
			return intType(64, false)
		}
	}
	switch t.Kind() {
	case pq.Boolean:
		return appendBoolValue, arrow.FixedWidthTypes.Boolean, nil
	case pq.Int32:
		return appendIntValue, arrow.PrimitiveTypes.Int32, nil
	case pq.Int64:
		return appendIntValue, arrow.PrimitiveTypes.Int64, nil
	case pq.Int96:
		return appendInt96Value, &arrow.TimestampType{Unit: arrow.Nanosecond, TimeZone: "UTC"}, nil
	case pq.Float:
		return appendFloatValue, arrow.PrimitiveTypes.Float32, nil
	case pq.Double:
		return appendFloatValue, arrow.PrimitiveTypes.Float64, nil
	case pq.ByteArray:
		return appendBinaryValue, arrow.BinaryTypes.Binary, nil
	case pq.FixedLenByteArray:
		return appendBinaryValue, &arrow.FixedSizeBinaryType{ByteWidth: t.Length()}, nil
	}
	return nil, nil, fmt.Errorf("%w: Parquet type %s", ErrUnsupportedType, t)
}

func intType(bits int8, signed bool) (func([]byte, pq.Value) []byte, arrow.DataType, error) {
	var dt arrow.DataType
	switch {
	case signed && bits == 8:
		dt = arrow.PrimitiveTypes.Int8
	case signed && bits == 16:
		dt = arrow.PrimitiveTypes.Int16
	case signed && bits == 32:
		dt = arrow.PrimitiveTypes.Int32
	case signed:
		dt = arrow.PrimitiveTypes.Int64
	case bits == 8:
		dt = arrow.PrimitiveTypes.Uint8
	case bits == 16:
		dt = arrow.PrimitiveTypes.Uint16
	case bits == 32:
		dt = arrow.PrimitiveTypes.Uint32
	default:
		dt = arrow.PrimitiveTypes.Uint64
	}
	if signed {
		return appendIntValue, dt, nil
	}
	if bits == 64 {
		return appendUint64Value, dt, nil
	}
	return appendUint32Value, dt, nil
}

func timeUnit(u format.TimeUnit) (arrow.TimeUnit, int64) {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return arrow.Millisecond, int64(time.Millisecond)
	case *format.MicroSeconds:
		return arrow.Microsecond, int64(time.Microsecond)
	}
	return arrow.Nanosecond, 1
}

func appendBoolValue(buf []byte, v pq.Value) []byte { return strconv.AppendBool(buf, v.Boolean()) }

func appendIntValue(buf []byte, v pq.Value) []byte {
	if v.Kind() == pq.Int32 {
		return strconv.AppendInt(buf, int64(v.Int32()), 10)
	}
	return strconv.AppendInt(buf, v.Int64(), 10)
}

func appendUint32Value(buf []byte, v pq.Value) []byte {
	return strconv.AppendUint(buf, uint64(uint32(v.Int32())), 10)
}

func appendUint64Value(buf []byte, v pq.Value) []byte {
	return strconv.AppendUint(buf, uint64(v.Int64()), 10)
}

// appendFloatValue writes NaN and infinities as the strings
// connectors/schema accepts, since JSON numbers cannot hold them.
func appendFloatValue(buf []byte, v pq.Value) []byte {
	var f float64
	bits := 64
	if v.Kind() == pq.Float {
		f, bits = float64(v.Float()), 32
	} else {
		f = v.Double()
	}
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}

func appendStringValue(buf []byte, v pq.Value) []byte {
	b := v.ByteArray()
	if !utf8.Valid(b) {
		return appendBinaryValue(buf, v)
	}
	return appendJSONString(buf, string(b))
}

// appendJSONValue embeds a JSON column's text as a JSON value; text that is
// not valid JSON is written as a string, never as broken output.
func appendJSONValue(buf []byte, v pq.Value) []byte {
	b := v.ByteArray()
	if len(b) > 0 && json.Valid(b) {
		return append(buf, b...)
	}
	return appendStringValue(buf, v)
}

func appendBinaryValue(buf []byte, v pq.Value) []byte {
	b := v.ByteArray()
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

func appendUUIDValue(buf []byte, v pq.Value) []byte {
	b := v.ByteArray()
	if len(b) != 16 {
		return appendBinaryValue(buf, v)
	}
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	buf = append(buf, '"')
	buf = append(buf, s[:]...)
	return append(buf, '"')
}

func appendDateValue(buf []byte, v pq.Value) []byte {
	t := time.Unix(int64(v.Int32())*86400, 0).UTC()
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, "2006-01-02")
	return append(buf, '"')
}

func appendTimestampValue(scale int64, utc bool) func([]byte, pq.Value) []byte {
	layout := "2006-01-02T15:04:05.999999999Z07:00"
	if !utc {
		layout = "2006-01-02T15:04:05.999999999"
	}
	return func(buf []byte, v pq.Value) []byte {
		n := v.Int64()
		t := time.Unix(0, 0).Add(time.Duration(n * scale)).UTC()
		if scale > 1 && (n > math.MaxInt64/scale || n < math.MinInt64/scale) {
			sec := n / (int64(time.Second) / scale)
			t = time.Unix(sec, 0).UTC()
		}
		buf = append(buf, '"')
		buf = t.AppendFormat(buf, layout)
		return append(buf, '"')
	}
}

func appendInt96Value(buf []byte, v pq.Value) []byte {
	// INT96 timestamps: 8 bytes of nanoseconds in the day, then the Julian day.
	b := v.Bytes()
	if len(b) != 12 {
		return append(buf, "null"...)
	}
	nanos := int64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
	day := int64(uint32(b[8]) | uint32(b[9])<<8 | uint32(b[10])<<16 | uint32(b[11])<<24)
	const julianUnixEpoch = 2440588
	ts := time.Unix((day-julianUnixEpoch)*86400, nanos).UTC()
	buf = append(buf, '"')
	buf = ts.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"')
}

func appendTimeValue(scale int64) func([]byte, pq.Value) []byte {
	return func(buf []byte, v pq.Value) []byte {
		var n int64
		if v.Kind() == pq.Int32 {
			n = int64(v.Int32())
		} else {
			n = v.Int64()
		}
		t := time.Unix(0, 0).UTC().Add(time.Duration(n * scale))
		buf = append(buf, '"')
		buf = t.AppendFormat(buf, "15:04:05.999999999")
		return append(buf, '"')
	}
}

// appendDecimalValue writes the exact decimal as a string ("12.30").
func appendDecimalValue(scale int32) func([]byte, pq.Value) []byte {
	return func(buf []byte, v pq.Value) []byte {
		var unscaled big.Int
		switch v.Kind() {
		case pq.Int32:
			unscaled.SetInt64(int64(v.Int32()))
		case pq.Int64:
			unscaled.SetInt64(v.Int64())
		default:
			b := v.ByteArray()
			unscaled.SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 { // two's complement negative
				var m big.Int
				m.Lsh(big.NewInt(1), uint(8*len(b)))
				unscaled.Sub(&unscaled, &m)
			}
		}
		return append(append(append(buf, '"'), formatScaled(&unscaled, int(scale))...), '"')
	}
}

func formatScaled(n *big.Int, scale int) string {
	s := n.String()
	if scale <= 0 {
		return s
	}
	neg := ""
	if s[0] == '-' {
		neg, s = "-", s[1:]
	}
	for len(s) <= scale {
		s = "0" + s
	}
	return neg + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// appendJSONString appends s as a JSON string. (strconv.AppendQuote is
// Go syntax: its \x and \a escapes are not JSON.) s must be valid UTF-8;
// callers check, and invalid bytes are replaced.
func appendJSONString(buf []byte, s string) []byte {
	const hexdigits = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				buf = append(buf, s[start:i]...)
				buf = append(buf, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&0xf])
		}
		i++
		start = i
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
