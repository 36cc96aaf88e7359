package parquet

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

// rowDecoder turns Parquet rows back into JSON objects (the encoding the
// connectors/schema package describes: decimals as strings, timestamps as
// RFC 3339, UUIDs in canonical form, binary as base64), and describes them
// with an Arrow schema. It is the reverse of the encoders in encode.go.
type rowDecoder struct {
	names  []string
	fields []*decNode
	schema *arrow.Schema
	cur    cursor

	// keyIndex is the top-level field whose JSON text appendJSON notes in
	// keyStart:keyEnd (relative to the row's start), or -1.
	keyIndex, keyStart, keyEnd int
}

type decKind int

const (
	decLeaf decKind = iota
	decStruct
	decList
	decMap
)

// decNode decodes one field. Levels follow the Dremel encoding: a value is
// null when its first leaf's definition level is below nullDef, and a list
// has elements when that level reaches elemDef; the next element of a list
// starts with repetition level repLevel.
type decNode struct {
	kind     decKind
	nullDef  int // 0: never null (required)
	firstCol int
	leaves   []int

	col  int
	conv func(buf []byte, v pq.Value) []byte

	names    []string
	children []*decNode

	elemDef  int
	repLevel int
	elem     *decNode // list element, or map key_value struct
}

// cursor walks the values of one row, column by column.
type cursor struct {
	cols [][]pq.Value
	pos  []int
}

func (c *cursor) reset(row pq.Row) {
	for i := range c.cols {
		c.cols[i] = c.cols[i][:0]
		c.pos[i] = 0
	}
	row.Range(func(col int, vals []pq.Value) bool {
		if col < len(c.cols) {
			c.cols[col] = vals
		}
		return true
	})
}

// peek returns the next value of col; a missing value reads as a null at
// level 0, so a malformed row decodes to nulls instead of panicking.
func (c *cursor) peek(col int) pq.Value {
	if c.pos[col] < len(c.cols[col]) {
		return c.cols[col][c.pos[col]]
	}
	return pq.Value{}
}

// value returns the first value of col in the current row.
func (c *cursor) value(col int) pq.Value {
	if len(c.cols[col]) == 0 {
		return pq.Value{}
	}
	return c.cols[col][0]
}

func (c *cursor) has(col int) bool { return c.pos[col] < len(c.cols[col]) }

func (c *cursor) next(col int) pq.Value {
	v := c.peek(col)
	c.pos[col]++
	return v
}

func (c *cursor) skip(cols []int) {
	for _, col := range cols {
		c.pos[col]++
	}
}

// newRowDecoder builds the decoder of a file's schema.
func newRowDecoder(s *pq.Schema) (*rowDecoder, error) {
	d := &rowDecoder{keyIndex: -1}
	var fields []arrow.Field
	b := &decBuilder{}
	for _, f := range s.Fields() {
		n, af, err := b.node(f, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", f.Name(), err)
		}
		d.names = append(d.names, f.Name())
		d.fields = append(d.fields, n)
		fields = append(fields, af)
	}
	d.schema = arrow.NewSchema(fields, nil)
	ncols := len(s.Columns())
	d.cur = cursor{cols: make([][]pq.Value, ncols), pos: make([]int, ncols)}
	return d, nil
}

// appendJSON appends row as a JSON object.
func (d *rowDecoder) appendJSON(buf []byte, row pq.Row) []byte {
	d.cur.reset(row)
	base := len(buf)
	buf = append(buf, '{')
	for i, n := range d.fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, d.names[i])
		buf = append(buf, ':')
		start := len(buf)
		buf = n.decode(&d.cur, buf)
		if i == d.keyIndex {
			d.keyStart, d.keyEnd = start-base, len(buf)-base
		}
	}
	return append(buf, '}')
}

// key returns the key field of the row last written by appendJSON into
// row: a string's text, any other value's JSON text, nil for null.
func (d *rowDecoder) key(row []byte) []byte {
	if d.keyIndex < 0 || d.keyEnd > len(row) {
		return nil
	}
	raw := row[d.keyStart:d.keyEnd]
	if string(raw) == "null" {
		return nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return []byte(s)
		}
	}
	return append([]byte(nil), raw...)
}

func (n *decNode) decode(c *cursor, buf []byte) []byte {
	if n.nullDef > 0 && c.peek(n.firstCol).DefinitionLevel() < n.nullDef {
		c.skip(n.leaves)
		return append(buf, "null"...)
	}
	switch n.kind {
	case decLeaf:
		return n.conv(buf, c.next(n.col))
	case decStruct:
		buf = append(buf, '{')
		for i, ch := range n.children {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendJSONString(buf, n.names[i])
			buf = append(buf, ':')
			buf = ch.decode(c, buf)
		}
		return append(buf, '}')
	case decList, decMap:
		open, close := byte('['), byte(']')
		if n.kind == decMap {
			open, close = '{', '}'
		}
		buf = append(buf, open)
		if c.peek(n.firstCol).DefinitionLevel() < n.elemDef {
			c.skip(n.leaves) // present but empty
			return append(buf, close)
		}
		for first := true; ; first = false {
			if !first {
				buf = append(buf, ',')
			}
			if n.kind == decMap {
				buf = n.decodeEntry(c, buf)
			} else {
				buf = n.elem.decode(c, buf)
			}
			if !c.has(n.firstCol) || c.peek(n.firstCol).RepetitionLevel() != n.repLevel {
				break
			}
		}
		return append(buf, close)
	}
	return buf
}

// decodeEntry writes one map entry as "key":value; keys that are not
// strings are written as their JSON text, quoted.
func (n *decNode) decodeEntry(c *cursor, buf []byte) []byte {
	key, val := n.elem.children[0], n.elem.children[1]
	start := len(buf)
	buf = key.decode(c, buf)
	if len(buf) == start || buf[start] != '"' {
		text := string(buf[start:])
		buf = appendJSONString(buf[:start], text)
	}
	buf = append(buf, ':')
	return val.decode(c, buf)
}

type decBuilder struct{ nextCol int }

// node builds the decoder and Arrow field of a schema node whose parent
// reached definition level def and repetition level rep.
func (b *decBuilder) node(f pq.Field, def, rep int) (*decNode, arrow.Field, error) {
	name := f.Name()
	switch {
	case f.Repeated():
		// A bare repeated field (legacy list): a required list of required
		// elements.
		start := b.nextCol
		inner, af, err := b.body(f, def+1, rep+1)
		if err != nil {
			return nil, arrow.Field{}, err
		}
		n := &decNode{kind: decList, elemDef: def + 1, repLevel: rep + 1, elem: inner}
		b.finish(n, start)
		return n, arrow.Field{Name: name, Type: arrow.ListOfField(arrow.Field{Name: "element", Type: af.Type})}, nil
	case f.Optional():
		start := b.nextCol
		n, af, err := b.body(f, def+1, rep)
		if err != nil {
			return nil, arrow.Field{}, err
		}
		n.nullDef = def + 1
		b.finish(n, start)
		af.Name, af.Nullable = name, true
		return n, af, nil
	default:
		n, af, err := b.body(f, def, rep)
		af.Name = name
		return n, af, err
	}
}

func (b *decBuilder) finish(n *decNode, start int) {
	n.firstCol = start
	n.leaves = n.leaves[:0]
	for c := start; c < b.nextCol; c++ {
		n.leaves = append(n.leaves, c)
	}
}

// body builds the decoder of a node's content, ignoring its own repetition.
func (b *decBuilder) body(f pq.Node, def, rep int) (*decNode, arrow.Field, error) {
	start := b.nextCol
	if f.Leaf() {
		conv, dt, err := leafConverter(f.Type())
		if err != nil {
			return nil, arrow.Field{}, err
		}
		n := &decNode{kind: decLeaf, col: b.nextCol, conv: conv}
		b.nextCol++
		b.finish(n, start)
		return n, arrow.Field{Type: dt}, nil
	}
	fields := f.Fields()
	lt := f.Type().LogicalType()
	ct := f.Type().ConvertedType()
	isList := (lt != nil && isLogical[*format.ListType](lt)) || (ct != nil && *ct == deprecated.List)
	isMap := (lt != nil && isLogical[*format.MapType](lt)) || (ct != nil && (*ct == deprecated.Map || *ct == deprecated.MapKeyValue))
	if (isList || isMap) && len(fields) == 1 && fields[0].Repeated() {
		rpt := fields[0]
		n := &decNode{kind: decList, elemDef: def + 1, repLevel: rep + 1}
		var elemType arrow.DataType
		if isMap {
			if rpt.Leaf() || len(rpt.Fields()) != 2 {
				return nil, arrow.Field{}, fmt.Errorf("%w: MAP without a key and a value", ErrUnsupportedType)
			}
			kv, _, err := b.body(rpt, def+1, rep+1)
			if err != nil {
				return nil, arrow.Field{}, err
			}
			n.kind, n.elem = decMap, kv
		} else if !rpt.Leaf() && len(rpt.Fields()) == 1 && rpt.Fields()[0].Name() != "array" && !hasTupleSuffix(rpt.Name()) {
			// Standard three-level list: repeated group list { element }.
			el, af, err := b.node(rpt.Fields()[0], def+1, rep+1)
			if err != nil {
				return nil, arrow.Field{}, err
			}
			n.elem, elemType = el, arrow.ListOfField(arrow.Field{Name: "element", Type: af.Type, Nullable: af.Nullable})
		} else {
			// Two-level legacy list: the repeated node is the element.
			el, af, err := b.body(rpt, def+1, rep+1)
			if err != nil {
				return nil, arrow.Field{}, err
			}
			n.elem, elemType = el, arrow.ListOfField(arrow.Field{Name: "element", Type: af.Type})
		}
		b.finish(n, start)
		if isMap {
			return n, arrow.Field{Type: mapArrowType(rpt)}, nil
		}
		return n, arrow.Field{Type: elemType}, nil
	}
	n := &decNode{kind: decStruct}
	var afs []arrow.Field
	for _, ch := range fields {
		cn, af, err := b.node(ch, def, rep)
		if err != nil {
			return nil, arrow.Field{}, fmt.Errorf("field %q: %w", ch.Name(), err)
		}
		n.names = append(n.names, ch.Name())
		n.children = append(n.children, cn)
		afs = append(afs, af)
	}
	if len(afs) == 0 {
		return nil, arrow.Field{}, fmt.Errorf("%w: empty group", ErrUnsupportedType)
	}
	b.finish(n, start)
	return n, arrow.Field{Type: arrow.StructOf(afs...)}, nil
}

// mapArrowType describes a MAP as an Arrow map when its key is a string,
// and otherwise as a list of key/value structs (the JSON form is an object
// either way, keyed by the key's text).
func mapArrowType(rpt pq.Field) arrow.DataType {
	fields := rpt.Fields()
	if !fields[0].Leaf() {
		return arrow.BinaryTypes.String
	}
	_, keyType, err := leafConverter(fields[0].Type())
	if err != nil {
		return arrow.BinaryTypes.String
	}
	_, valField, err := (&decBuilder{}).node(fields[1], 0, 0)
	if err != nil {
		return arrow.BinaryTypes.String
	}
	return arrow.MapOf(keyType, valField.Type)
}

func hasTupleSuffix(name string) bool {
	return len(name) > 6 && name[len(name)-6:] == "_tuple"
}

func isLogical[T any](lt *format.LogicalType) bool {
	_, ok := lt.Value.(T)
	return ok
}

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
