package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// binEnc appends the binary COPY representation of a non-null JSON value
// (without the length word) for one column type. Binary COPY spares the
// server from parsing text for every value, which is most of its cost for
// numbers and timestamps; the sink uses it whenever every column of a batch
// has a binary encoder here, and the text format otherwise (arrays, interval,
// network types, enums, ...), where PostgreSQL's own input functions parse.
type binEnc func(b []byte, v *jvalue) ([]byte, error)

// binaryEncoderFor returns the binary encoder of a (base) type, or nil.
func binaryEncoderFor(oid uint32) binEnc {
	switch oid {
	case pgtype.BoolOID:
		return binBool
	case pgtype.Int2OID:
		return binInt(16)
	case pgtype.Int4OID:
		return binInt(32)
	case pgtype.Int8OID:
		return binInt(64)
	case pgtype.Float4OID:
		return binFloat4
	case pgtype.Float8OID:
		return binFloat8
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		return binText
	case pgtype.JSONOID:
		return binJSON
	case pgtype.JSONBOID:
		return binJSONB
	case pgtype.TimestamptzOID:
		return binTimestamp(true)
	case pgtype.TimestampOID:
		return binTimestamp(false)
	case pgtype.DateOID:
		return binDate
	case pgtype.TimeOID:
		return binTime
	case pgtype.UUIDOID:
		return binUUID
	case pgtype.ByteaOID:
		return binBytea
	case pgtype.NumericOID:
		return binNumeric
	}
	return nil
}

// scalarText is the text of a string's content or of any other JSON value.
func scalarText(v *jvalue) string {
	if v.Kind() == kString {
		return unquote(v)
	}
	return v.JSON()
}

func binBool(b []byte, v *jvalue) ([]byte, error) {
	switch v.Kind() {
	case kTrue:
		return append(b, 1), nil
	case kFalse:
		return append(b, 0), nil
	case kString, kNumber:
		s := strings.TrimSpace(scalarText(v))
		for _, w := range [...]string{"t", "true", "y", "yes", "on", "1"} {
			if strings.EqualFold(s, w) {
				return append(b, 1), nil
			}
		}
		for _, w := range [...]string{"f", "false", "n", "no", "off", "0"} {
			if strings.EqualFold(s, w) {
				return append(b, 0), nil
			}
		}
	}
	return b, fmt.Errorf("expected a boolean, got %s", snippet(v))
}

func binInt(bits int) binEnc {
	return func(b []byte, v *jvalue) ([]byte, error) {
		if k := v.Kind(); k != kNumber && k != kString {
			return b, fmt.Errorf("expected an integer, got %s", kindName(k))
		}
		n, err := strconv.ParseInt(strings.TrimSpace(scalarText(v)), 10, bits)
		if err != nil {
			return b, fmt.Errorf("expected a %d-bit integer, got %s", bits, snippet(v))
		}
		switch bits {
		case 16:
			return binary.BigEndian.AppendUint16(b, uint16(n)), nil
		case 32:
			return binary.BigEndian.AppendUint32(b, uint32(n)), nil
		}
		return binary.BigEndian.AppendUint64(b, uint64(n)), nil
	}
}

func parseFloatValue(v *jvalue, bits int) (float64, error) {
	if k := v.Kind(); k != kNumber && k != kString {
		return 0, fmt.Errorf("expected a number, got %s", kindName(k))
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(scalarText(v)), bits)
	if err != nil && !(math.IsInf(f, 0) && v.Kind() == kNumber) {
		return 0, fmt.Errorf("expected a number, got %s", snippet(v))
	}
	if math.IsInf(f, 0) && v.Kind() == kNumber || f == 0 && nonZeroMantissa(scalarText(v)) {
		return 0, fmt.Errorf("%s is out of range for a %d-bit float", snippet(v), bits)
	}
	return f, nil
}

// nonZeroMantissa reports whether a number literal has a non-zero digit
// before its exponent (so parsing it to zero was an underflow, which
// PostgreSQL refuses).
func nonZeroMantissa(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 'e' || c == 'E':
			return false
		case c >= '1' && c <= '9':
			return true
		}
	}
	return false
}

func binFloat4(b []byte, v *jvalue) ([]byte, error) {
	f, err := parseFloatValue(v, 32)
	if err != nil {
		return b, err
	}
	return binary.BigEndian.AppendUint32(b, math.Float32bits(float32(f))), nil
}

func binFloat8(b []byte, v *jvalue) ([]byte, error) {
	f, err := parseFloatValue(v, 64)
	if err != nil {
		return b, err
	}
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}

// binText sends a string's content, or the JSON text of anything else; the
// server checks the encoding and, for varchar(n) and char(n), the length.
func binText(b []byte, v *jvalue) ([]byte, error) {
	return append(b, scalarText(v)...), nil
}

func binJSON(b []byte, v *jvalue) ([]byte, error) { return append(b, v.JSON()...), nil }

func binJSONB(b []byte, v *jvalue) ([]byte, error) {
	b = append(b, 1) // jsonb binary format version
	return append(b, v.JSON()...), nil
}

const (
	pgEpochMicros = 946684800 * 1000000 // 2000-01-01 in Unix microseconds
	pgEpochDays   = 10957               // 2000-01-01 in days since 1970-01-01
)

// timestampLayouts are the text forms binary timestamps accept (the ones
// connectors/schema documents: RFC 3339 with T or a space, with or without
// an offset, or a bare date).
var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

// parseTime reads a JSON timestamp. withZone: a string without an offset is
// UTC, one with an offset is converted. Without zone (PostgreSQL timestamp)
// the wall clock is kept as written, as PostgreSQL's own input does.
func parseTime(v *jvalue, withZone bool) (micros int64, err error) {
	switch v.Kind() {
	case kNumber:
		ms, err := strconv.ParseFloat(v.JSON(), 64)
		if err != nil || math.Abs(ms) > 1e16 {
			return 0, fmt.Errorf("timestamp %s is not epoch milliseconds", snippet(v))
		}
		return int64(math.Round(ms*1000)) - pgEpochMicros, nil
	case kString:
		s := unquote(v)
		// The common case first: RFC 3339, as connectors/schema writes.
		if us, ok := fastTimestamp(s, !withZone); ok {
			return us - pgEpochMicros, nil
		}
		s = strings.TrimSpace(s)
		switch {
		case strings.EqualFold(s, "infinity"), strings.EqualFold(s, "+infinity"):
			return math.MaxInt64, nil
		case strings.EqualFold(s, "-infinity"):
			return math.MinInt64, nil
		}
		for _, layout := range timestampLayouts {
			t, err := time.Parse(layout, s)
			if err != nil {
				continue
			}
			if !withZone {
				y, mo, d := t.Date()
				h, mi, sec := t.Clock()
				t = time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), time.UTC)
			}
			return t.Round(time.Microsecond).UnixMicro() - pgEpochMicros, nil
		}
		return 0, fmt.Errorf("expected an RFC 3339 timestamp like 2006-01-02T15:04:05Z or epoch milliseconds, got %s", snippet(v))
	}
	return 0, fmt.Errorf("expected a timestamp, got %s", kindName(v.Kind()))
}

func binTimestamp(withZone bool) binEnc {
	return func(b []byte, v *jvalue) ([]byte, error) {
		us, err := parseTime(v, withZone)
		if err != nil {
			return b, err
		}
		return binary.BigEndian.AppendUint64(b, uint64(us)), nil
	}
}

func binDate(b []byte, v *jvalue) ([]byte, error) {
	var days int64
	switch v.Kind() {
	case kNumber:
		n, err := strconv.ParseInt(v.JSON(), 10, 32)
		if err != nil {
			return b, fmt.Errorf("date %s is not a number of days since 1970-01-01", snippet(v))
		}
		days = n - pgEpochDays
	case kString:
		s := strings.TrimSpace(unquote(v))
		switch strings.ToLower(s) {
		case "infinity", "+infinity":
			return binary.BigEndian.AppendUint32(b, math.MaxInt32), nil
		case "-infinity":
			return binary.BigEndian.AppendUint32(b, uint32(0x80000000)), nil
		}
		if len(s) > 10 && (s[10] == 'T' || s[10] == ' ') {
			s = s[:10] // the date of a timestamp
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return b, fmt.Errorf("expected a date like 2006-01-02, got %s", snippet(v))
		}
		days = t.Unix()/86400 - pgEpochDays
	default:
		return b, fmt.Errorf("expected a date, got %s", kindName(v.Kind()))
	}
	return binary.BigEndian.AppendUint32(b, uint32(int32(days))), nil
}

func binTime(b []byte, v *jvalue) ([]byte, error) {
	if v.Kind() != kString {
		return b, fmt.Errorf("expected a time like 15:04:05.999999, got %s", kindName(v.Kind()))
	}
	s := strings.TrimSpace(unquote(v))
	var t time.Time
	var err error
	for _, layout := range []string{"15:04:05.999999999", "15:04"} {
		if t, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		if s == "24:00:00" || s == "24:00" {
			return binary.BigEndian.AppendUint64(b, uint64(86400*1000000)), nil
		}
		return b, fmt.Errorf("expected a time like 15:04:05.999999, got %s", snippet(v))
	}
	us := int64(t.Hour())*3600e6 + int64(t.Minute())*60e6 + int64(t.Second())*1e6 + int64(t.Nanosecond()+500)/1000
	return binary.BigEndian.AppendUint64(b, uint64(us)), nil
}

func binUUID(b []byte, v *jvalue) ([]byte, error) {
	if v.Kind() != kString {
		return b, fmt.Errorf("expected a UUID string, got %s", kindName(v.Kind()))
	}
	s := unquote(v)
	var out [16]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' || c == '{' || c == '}' {
			continue
		}
		h, ok := unhex(c)
		if !ok || n >= 32 {
			return b, fmt.Errorf("expected a UUID, got %s", snippet(v))
		}
		out[n/2] |= h << (4 * (1 - n%2))
		n++
	}
	if n != 32 {
		return b, fmt.Errorf("expected a UUID, got %s", snippet(v))
	}
	return append(b, out[:]...), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func binBytea(b []byte, v *jvalue) ([]byte, error) {
	if v.Kind() != kString {
		return b, fmt.Errorf("bytea value must be a base64 string, got %s", kindName(v.Kind()))
	}
	raw, err := decodeBase64(unquote(v))
	if err != nil {
		return b, fmt.Errorf("bytea value is not base64: %w", err)
	}
	return append(b, raw...), nil
}

// MaxNumericDigits bounds the digits of a numeric value the sink encodes
// (PostgreSQL's own limit is 131072 before and 16383 after the point), so a
// value like 1e999999999 is refused instead of allocating gigabytes.
const MaxNumericDigits = 147455

// binNumeric encodes a decimal number (a JSON number or string) in
// PostgreSQL's base-10000 numeric format. The server applies the column's
// precision and scale.
func binNumeric(b []byte, v *jvalue) ([]byte, error) {
	if k := v.Kind(); k != kNumber && k != kString {
		return b, fmt.Errorf("expected a number, got %s", kindName(k))
	}
	s := scalarText(v)
	if v.Kind() == kString {
		s = strings.TrimSpace(s)
		switch {
		case strings.EqualFold(s, "nan"):
			return append(b, 0, 0, 0, 0, 0xC0, 0, 0, 0), nil
		case strings.EqualFold(s, "infinity"), strings.EqualFold(s, "+infinity"), strings.EqualFold(s, "inf"):
			return append(b, 0, 0, 0, 0, 0xD0, 0, 0, 0), nil
		case strings.EqualFold(s, "-infinity"), strings.EqualFold(s, "-inf"):
			return append(b, 0, 0, 0, 0, 0xF0, 0, 0, 0), nil
		}
	}
	neg, digits, point, err := parseDecimal(s)
	if err != nil {
		return b, fmt.Errorf("expected a decimal number, got %s", snippet(v))
	}
	// The value is 0.digits × 10^point. Digit i has the power of ten
	// point-1-i and belongs to base-10000 group floor(power/4).
	dscale := len(digits) - point
	if dscale < 0 {
		dscale = 0
	}
	if point > MaxNumericDigits || dscale > MaxNumericDigits {
		return b, fmt.Errorf("number %s has too many digits", snippet(v))
	}
	var groups []uint16
	weight := 0
	if len(digits) > 0 {
		weight = floorDiv(point-1, 4)
		lowest := floorDiv(point-len(digits), 4)
		groups = make([]uint16, weight-lowest+1)
		for i := 0; i < len(digits); i++ {
			pow := point - 1 - i
			g := weight - floorDiv(pow, 4)
			groups[g] += uint16(digits[i]-'0') * pow10[pow-4*floorDiv(pow, 4)]
		}
		for len(groups) > 0 && groups[len(groups)-1] == 0 {
			groups = groups[:len(groups)-1]
		}
	}
	sign := uint16(0)
	if neg && len(groups) > 0 {
		sign = 0x4000
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(groups)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale))
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b, nil
}

var pow10 = [4]uint16{1, 10, 100, 1000}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// parseDecimal splits a decimal literal ([+-]digits[.digits][e[+-]digits])
// into its sign, its significant digits without leading zeros, and where the
// decimal point falls among them.
func parseDecimal(s string) (neg bool, digits string, point int, err error) {
	if s == "" {
		return false, "", 0, fmt.Errorf("empty")
	}
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > 2*MaxNumericDigits || e < -2*MaxNumericDigits {
			return false, "", 0, fmt.Errorf("bad exponent")
		}
		exp = e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" && frac == "" {
		return false, "", 0, fmt.Errorf("no digits")
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return false, "", 0, fmt.Errorf("not a digit")
			}
		}
	}
	all := intPart + frac
	point = len(intPart) + exp
	trimmed := strings.TrimLeft(all, "0")
	point -= len(all) - len(trimmed)
	if trimmed == "" {
		// Zero: no digits; the point sits so that the scale the literal
		// shows (0.00 has scale 2) survives.
		return false, "", -max(0, len(frac)-exp), nil
	}
	return neg, trimmed, point, nil
}

// snippet shows a value in an error message, shortened.
func snippet(v *jvalue) string {
	s := v.JSON()
	if len(s) > 64 {
		s = s[:61] + "..."
	}
	return s
}
