package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// ErrUnsupportedType means an Arrow type has no place in Sluice's type set.
var ErrUnsupportedType = errors.New("unsupported arrow type")

// maxTypeDepth bounds nesting of list and struct types when parsing, so a
// hostile header cannot exhaust the stack.
const maxTypeDepth = 32

var simpleTypes = map[string]arrow.DataType{
	"bool":    arrow.FixedWidthTypes.Boolean,
	"int8":    arrow.PrimitiveTypes.Int8,
	"int16":   arrow.PrimitiveTypes.Int16,
	"int32":   arrow.PrimitiveTypes.Int32,
	"int64":   arrow.PrimitiveTypes.Int64,
	"uint8":   arrow.PrimitiveTypes.Uint8,
	"uint16":  arrow.PrimitiveTypes.Uint16,
	"uint32":  arrow.PrimitiveTypes.Uint32,
	"uint64":  arrow.PrimitiveTypes.Uint64,
	"float32": arrow.PrimitiveTypes.Float32,
	"float64": arrow.PrimitiveTypes.Float64,
	"string":  arrow.BinaryTypes.String,
	"binary":  arrow.BinaryTypes.Binary,
	"date32":  arrow.FixedWidthTypes.Date32,
}

var unitNames = map[arrow.TimeUnit]string{arrow.Second: "s", arrow.Millisecond: "ms", arrow.Microsecond: "us", arrow.Nanosecond: "ns"}

// TypeName returns the name of dt in Sluice's type grammar ("int64",
// "decimal128(12,2)", "timestamp[us, UTC]", "list<string>", "uuid", ...).
// The error wraps ErrUnsupportedType for types outside the set.
func TypeName(dt arrow.DataType) (string, error) {
	switch {
	case IsUUID(dt):
		return "uuid", nil
	case IsJSON(dt):
		return "json", nil
	}
	switch t := dt.(type) {
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal128(%d,%d)", t.Precision, t.Scale), nil
	case *arrow.FixedSizeBinaryType:
		return fmt.Sprintf("fixed_size_binary(%d)", t.ByteWidth), nil
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return "timestamp[" + unitNames[t.Unit] + "]", nil
		}
		return "timestamp[" + unitNames[t.Unit] + ", " + t.TimeZone + "]", nil
	case *arrow.Time64Type:
		return "time64[" + unitNames[t.Unit] + "]", nil
	case *arrow.ListType:
		inner, err := TypeName(t.Elem())
		if err != nil {
			return "", err
		}
		return "list<" + inner + ">", nil
	case *arrow.StructType:
		var b strings.Builder
		b.WriteString("struct<")
		for i, f := range t.Fields() {
			if i > 0 {
				b.WriteString(", ")
			}
			inner, err := TypeName(f.Type)
			if err != nil {
				return "", err
			}
			b.WriteString(fieldName(f.Name))
			b.WriteString(": ")
			b.WriteString(inner)
		}
		b.WriteString(">")
		return b.String(), nil
	}
	for name, st := range simpleTypes {
		if arrow.TypeEqual(st, dt) {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w: %s", ErrUnsupportedType, dt)
}

// fieldName quotes a struct field name unless it is a plain identifier.
func fieldName(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return strconv.Quote(s)
		}
	}
	return s
}

// ParseType parses a type name as TypeName writes it. Whitespace around
// tokens is ignored; errors say at which byte the name went wrong.
func ParseType(s string) (arrow.DataType, error) {
	p := &typeParser{s: s}
	dt, err := p.parse(0)
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("type %q: unexpected %q at byte %d", s, p.s[p.i:], p.i)
	}
	return dt, nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *typeParser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '+' || c == '-' || c == ':' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *typeParser) expect(c byte) error {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("expected %q at byte %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *typeParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.s) && p.s[p.i] == c
}

func (p *typeParser) int() (int32, error) {
	p.space()
	start := p.i
	w := p.word()
	n, err := strconv.ParseInt(w, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("expected an integer at byte %d", start)
	}
	return int32(n), nil
}

func (p *typeParser) unit() (arrow.TimeUnit, error) {
	start := p.i
	switch p.word() {
	case "s":
		return arrow.Second, nil
	case "ms":
		return arrow.Millisecond, nil
	case "us":
		return arrow.Microsecond, nil
	case "ns":
		return arrow.Nanosecond, nil
	}
	return 0, fmt.Errorf("expected a time unit (s, ms, us, ns) at byte %d", start)
}

func (p *typeParser) parse(depth int) (arrow.DataType, error) {
	if depth > maxTypeDepth {
		return nil, fmt.Errorf("nested deeper than %d at byte %d", maxTypeDepth, p.i)
	}
	p.space()
	start := p.i
	name := p.word()
	if dt, ok := simpleTypes[name]; ok {
		return dt, nil
	}
	switch name {
	case "uuid":
		return UUID(), nil
	case "json":
		return JSON(), nil
	case "decimal128", "decimal":
		if err := p.expect('('); err != nil {
			return nil, err
		}
		prec, err := p.int()
		if err != nil {
			return nil, err
		}
		if err := p.expect(','); err != nil {
			return nil, err
		}
		scale, err := p.int()
		if err != nil {
			return nil, err
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return Decimal(prec, scale)
	case "fixed_size_binary":
		if err := p.expect('('); err != nil {
			return nil, err
		}
		n, err := p.int()
		if err != nil {
			return nil, err
		}
		if n < 1 || n > 1<<20 {
			return nil, fmt.Errorf("fixed_size_binary width %d out of range 1..%d", n, 1<<20)
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return &arrow.FixedSizeBinaryType{ByteWidth: int(n)}, nil
	case "timestamp":
		if err := p.expect('['); err != nil {
			return nil, err
		}
		u, err := p.unit()
		if err != nil {
			return nil, err
		}
		tz := ""
		if p.peek(',') {
			p.i++
			p.space()
			tz = p.word()
			if tz == "" {
				return nil, fmt.Errorf("expected a time zone at byte %d", p.i)
			}
			if _, err := (&arrow.TimestampType{TimeZone: tz}).GetZone(); err != nil {
				return nil, fmt.Errorf("time zone %q: %v", tz, err)
			}
		}
		if err := p.expect(']'); err != nil {
			return nil, err
		}
		return &arrow.TimestampType{Unit: u, TimeZone: tz}, nil
	case "time64":
		if err := p.expect('['); err != nil {
			return nil, err
		}
		u, err := p.unit()
		if err != nil {
			return nil, err
		}
		if u != arrow.Microsecond && u != arrow.Nanosecond {
			return nil, fmt.Errorf("time64 unit must be us or ns")
		}
		if err := p.expect(']'); err != nil {
			return nil, err
		}
		return &arrow.Time64Type{Unit: u}, nil
	case "list":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		elem, err := p.parse(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := p.expect('>'); err != nil {
			return nil, err
		}
		return arrow.ListOf(elem), nil
	case "struct":
		if err := p.expect('<'); err != nil {
			return nil, err
		}
		var fields []arrow.Field
		seen := map[string]bool{}
		for !p.peek('>') {
			if len(fields) > 0 {
				if err := p.expect(','); err != nil {
					return nil, err
				}
			}
			fname, err := p.fieldName()
			if err != nil {
				return nil, err
			}
			if seen[fname] {
				return nil, fmt.Errorf("struct field %q repeated at byte %d", fname, p.i)
			}
			seen[fname] = true
			if err := p.expect(':'); err != nil {
				return nil, err
			}
			ft, err := p.parse(depth + 1)
			if err != nil {
				return nil, err
			}
			fields = append(fields, arrow.Field{Name: fname, Type: ft, Nullable: true})
		}
		p.i++
		return arrow.StructOf(fields...), nil
	}
	if name == "" {
		return nil, fmt.Errorf("expected a type name at byte %d", start)
	}
	return nil, fmt.Errorf("%w: unknown type name %q at byte %d", ErrUnsupportedType, name, start)
}

func (p *typeParser) fieldName() (string, error) {
	p.space()
	if p.peek('"') {
		// A Go-quoted string: find its end, honouring escapes.
		j := p.i + 1
		for j < len(p.s) && p.s[j] != '"' {
			if p.s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(p.s) {
			return "", fmt.Errorf("unterminated field name at byte %d", p.i)
		}
		name, err := strconv.Unquote(p.s[p.i : j+1])
		if err != nil {
			return "", fmt.Errorf("bad quoted field name at byte %d: %v", p.i, err)
		}
		p.i = j + 1
		return name, nil
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	if p.i == start {
		return "", fmt.Errorf("expected a field name at byte %d", start)
	}
	return p.s[start:p.i], nil
}

// jsonSchema is the wire form of a schema.
type jsonSchema struct {
	Fields   []jsonField       `json:"fields"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

type jsonField struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Nullable bool              `json:"nullable,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// MarshalSchema encodes s in its compact JSON wire form (see the package
// doc). The error wraps ErrUnsupportedType for types outside the set.
func MarshalSchema(s *arrow.Schema) ([]byte, error) {
	js := jsonSchema{Fields: make([]jsonField, 0, s.NumFields())}
	for _, f := range s.Fields() {
		name, err := TypeName(f.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		jf := jsonField{Name: f.Name, Type: name, Nullable: f.Nullable}
		if f.Metadata.Len() > 0 {
			jf.Metadata = metaMap(f.Metadata)
		}
		js.Fields = append(js.Fields, jf)
	}
	if md := s.Metadata(); md.Len() > 0 {
		js.Metadata = metaMap(md)
	}
	return json.Marshal(js)
}

func metaMap(md arrow.Metadata) map[string]string {
	m := make(map[string]string, md.Len())
	for i, k := range md.Keys() {
		m[k] = md.Values()[i]
	}
	return m
}

// MaxSchemaFields bounds the number of fields UnmarshalSchema accepts.
const MaxSchemaFields = 10000

// UnmarshalSchema decodes the JSON wire form. It is safe on untrusted bytes:
// errors name the field and what is wrong with it.
func UnmarshalSchema(data []byte) (*arrow.Schema, error) {
	var js jsonSchema
	if err := json.Unmarshal(data, &js); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if len(js.Fields) > MaxSchemaFields {
		return nil, fmt.Errorf("schema: %d fields, more than the limit of %d", len(js.Fields), MaxSchemaFields)
	}
	fields := make([]arrow.Field, len(js.Fields))
	seen := make(map[string]bool, len(js.Fields))
	for i, jf := range js.Fields {
		if jf.Name == "" {
			return nil, fmt.Errorf("schema: field %d has no name", i)
		}
		if seen[jf.Name] {
			return nil, fmt.Errorf("schema: field %q appears twice", jf.Name)
		}
		seen[jf.Name] = true
		dt, err := ParseType(jf.Type)
		if err != nil {
			return nil, fmt.Errorf("schema: field %q: %w", jf.Name, err)
		}
		fields[i] = arrow.Field{Name: jf.Name, Type: dt, Nullable: jf.Nullable}
		if len(jf.Metadata) > 0 {
			fields[i].Metadata = arrow.MetadataFrom(jf.Metadata)
		}
	}
	var md *arrow.Metadata
	if len(js.Metadata) > 0 {
		m := arrow.MetadataFrom(js.Metadata)
		md = &m
	}
	return arrow.NewSchema(fields, md), nil
}
