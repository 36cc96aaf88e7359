package schema

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// ErrIncompatible means two schemas (or types) cannot be merged.
var ErrIncompatible = errors.New("incompatible types")

// Inferrer builds an Arrow schema from sample JSON objects. The rules are
// conservative, so that every observed row converts without loss:
//
//   - integers → int64; any number with a fraction or exponent (or too big
//     for int64) → float64; int64 and float64 together → float64
//   - true/false → bool; strings → string (or timestamp[us, UTC] when
//     Timestamps is set and every value is an RFC 3339 timestamp)
//   - arrays → list<element type>, inferred the same way
//   - objects, and fields whose values disagree in kind → json
//   - fields only ever null → string
//
// Every inferred field is nullable; fields keep the order they were first
// seen in.
type Inferrer struct {
	// Timestamps turns string fields whose every value parses as an
	// RFC 3339 timestamp with a zone into timestamp[us, UTC].
	Timestamps bool

	fields []*inferred
	index  map[string]int
}

type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kFloat
	kString
	kTimestamp
	kList
	kJSON
)

type inferred struct {
	name string
	k    kind
	elem *inferred // for kList
}

// Observe folds one JSON object into the schema.
func (in *Inferrer) Observe(row []byte) error {
	row = bytes.TrimSpace(row)
	if len(row) == 0 || row[0] != '{' {
		return fmt.Errorf("row is not a JSON object: %s", snippet(row))
	}
	// Members in the object's order: the schema keeps first-seen order.
	type kv struct {
		k string
		v []byte
	}
	var pairs []kv
	err := jsonscan.EachMember(row, maxJSONDepth, func(key []byte, escaped bool, val []byte) error {
		name, err := jsonscan.Name(key, escaped)
		if err != nil {
			return err
		}
		pairs = append(pairs, kv{name, val})
		return nil
	})
	if err != nil {
		return fmt.Errorf("row is not valid JSON: %w", err)
	}
	if in.index == nil {
		in.index = map[string]int{}
	}
	for _, p := range pairs {
		i, ok := in.index[p.k]
		if !ok {
			i = len(in.fields)
			in.index[p.k] = i
			in.fields = append(in.fields, &inferred{name: p.k})
		}
		in.observe(in.fields[i], p.v, 0)
	}
	return nil
}

func (in *Inferrer) observe(f *inferred, raw []byte, depth int) {
	k, elems := in.kindOf(raw)
	if depth >= maxTypeDepth && k == kList {
		k = kJSON
	}
	f.k = widen(f.k, k)
	if f.k == kList {
		if f.elem == nil {
			f.elem = &inferred{}
		}
		for _, e := range elems {
			in.observe(f.elem, e, depth+1)
		}
	}
}

func (in *Inferrer) kindOf(raw []byte) (kind, [][]byte) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return kNull, nil
	}
	switch raw[0] {
	case 'n':
		return kNull, nil
	case 't', 'f':
		return kBool, nil
	case '"':
		if in.Timestamps {
			if s, err := jsonString(raw); err == nil {
				if _, err := parseZoned(s); err == nil {
					return kTimestamp, nil
				}
			}
		}
		return kString, nil
	case '[':
		var elems [][]byte
		if jsonscan.EachElement(raw, maxJSONDepth-1, func(v []byte) error { elems = append(elems, v); return nil }) != nil {
			return kJSON, nil
		}
		return kList, elems
	case '{':
		return kJSON, nil
	}
	if _, ok := jsonscan.Int(raw); ok {
		return kInt, nil
	}
	return kFloat, nil
}

// parseZoned accepts only timestamps that carry a zone offset, so that
// inference does not turn arbitrary date-like strings into instants.
func parseZoned(s string) (any, error) {
	for _, layout := range timestampLayouts[:3] {
		if t, err := timeParse(layout, s); err == nil {
			return t, nil
		}
	}
	return nil, errors.New("not a zoned timestamp")
}

func widen(a, b kind) kind {
	switch {
	case a == b:
		return a
	case a == kNull:
		return b
	case b == kNull:
		return a
	case a == kInt && b == kFloat, a == kFloat && b == kInt:
		return kFloat
	case a == kTimestamp && b == kString, a == kString && b == kTimestamp:
		return kString
	}
	return kJSON
}

func (f *inferred) dataType() arrow.DataType {
	switch f.k {
	case kBool:
		return arrow.FixedWidthTypes.Boolean
	case kInt:
		return arrow.PrimitiveTypes.Int64
	case kFloat:
		return arrow.PrimitiveTypes.Float64
	case kTimestamp:
		return TimestampUTC
	case kList:
		if f.elem == nil {
			return arrow.ListOf(arrow.BinaryTypes.String)
		}
		return arrow.ListOf(f.elem.dataType())
	case kJSON:
		return JSON()
	}
	return arrow.BinaryTypes.String
}

// Schema returns the schema inferred so far.
func (in *Inferrer) Schema() *arrow.Schema {
	fields := make([]arrow.Field, len(in.fields))
	for i, f := range in.fields {
		fields[i] = arrow.Field{Name: f.name, Type: f.dataType(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// Infer returns the schema of a set of JSON objects; see Inferrer. The
// error names the first row that is not a JSON object.
func Infer(rows [][]byte) (*arrow.Schema, error) {
	var in Inferrer
	for i, r := range rows {
		if err := in.Observe(r); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
	}
	return in.Schema(), nil
}

// Merge returns a schema holding the fields of a, in order, then the fields
// only b has; a field both have gets the wider of the two types (int64 and
// float64 give float64; equal types stay) and is nullable if either is.
// Fields added from b are made nullable, since older rows lack them. The
// error wraps ErrIncompatible and names the field.
func Merge(a, b *arrow.Schema) (*arrow.Schema, error) {
	fields := append([]arrow.Field(nil), a.Fields()...)
	for _, fb := range b.Fields() {
		idx := a.FieldIndices(fb.Name)
		if len(idx) == 0 {
			fb.Nullable = true
			fields = append(fields, fb)
			continue
		}
		fa := &fields[idx[0]]
		dt, err := WidenType(fa.Type, fb.Type)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", fb.Name, err)
		}
		fa.Type = dt
		fa.Nullable = fa.Nullable || fb.Nullable
	}
	md := a.Metadata()
	return arrow.NewSchema(fields, &md), nil
}

// WidenType returns a type that holds values of both a and b: a itself when
// they are equal, float64 for a mix of integer and floating types, the wider
// integer for two signed integers, a list of the widened element type. The
// error wraps ErrIncompatible.
func WidenType(a, b arrow.DataType) (arrow.DataType, error) {
	if arrow.TypeEqual(a, b) {
		return a, nil
	}
	ra, rb := numRank(a), numRank(b)
	switch {
	case ra > 0 && rb > 0 && (ra == rankFloat || rb == rankFloat):
		return arrow.PrimitiveTypes.Float64, nil
	case ra > 0 && rb > 0:
		if ra > rb {
			return a, nil
		}
		return b, nil
	}
	if la, ok := a.(*arrow.ListType); ok {
		if lb, ok := b.(*arrow.ListType); ok {
			e, err := WidenType(la.Elem(), lb.Elem())
			if err != nil {
				return nil, err
			}
			return arrow.ListOf(e), nil
		}
	}
	return nil, fmt.Errorf("%w: %s and %s", ErrIncompatible, a, b)
}

const rankFloat = 10

func numRank(dt arrow.DataType) int {
	switch dt.ID() {
	case arrow.INT8:
		return 1
	case arrow.INT16:
		return 2
	case arrow.INT32:
		return 3
	case arrow.INT64:
		return 4
	case arrow.FLOAT32, arrow.FLOAT64:
		return rankFloat
	}
	return 0
}

// NullFields returns the fields that were only ever null (or absent after
// appearing as null): Schema types them as string for want of evidence, and
// a caller merging schemas over time may let later values decide.
func (in *Inferrer) NullFields() map[string]bool {
	out := map[string]bool{}
	for _, f := range in.fields {
		if f.k == kNull {
			out[f.name] = true
		}
	}
	return out
}
