package parquet

import (
	"errors"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	pq "github.com/parquet-go/parquet-go"
)

// ErrUnsupportedType means an Arrow type has no Parquet mapping here.
var ErrUnsupportedType = errors.New("unsupported type")

// uuidExtension is the canonical Arrow extension name for UUIDs
// (FixedSizeBinary(16) storage); such fields become Parquet UUID columns.
const uuidExtension = "arrow.uuid"

// jsonExtension is the canonical Arrow extension name for JSON documents
// (utf8 storage); such fields become Parquet JSON columns.
const jsonExtension = "arrow.json"

// orderedGroup is a Parquet group whose fields keep the order of the Arrow
// schema. parquet.Group is a map and sorts its fields by name, which would
// reorder columns relative to the schema users declared.
type orderedGroup struct {
	pq.Group
	fields []pq.Field
}

func newOrderedGroup(names []string, nodes []pq.Node) *orderedGroup {
	g := &orderedGroup{Group: make(pq.Group, len(names))}
	for i, name := range names {
		g.Group[name] = nodes[i]
		// A one-entry Group yields a Field carrying the name.
		g.fields = append(g.fields, pq.Group{name: nodes[i]}.Fields()[0])
	}
	return g
}

func (g *orderedGroup) Fields() []pq.Field { return g.fields }

// parquetSchema maps an Arrow schema to a Parquet schema and builds, for each
// top-level field, the encoder that turns Arrow arrays into column values.
// The column indexes of the encoders follow the Parquet schema's leaf order,
// which (with orderedGroup) is a depth-first walk of the Arrow fields.
func parquetSchema(name string, s *arrow.Schema) (*pq.Schema, []encoder, error) {
	fields := s.Fields()
	names := make([]string, len(fields))
	nodes := make([]pq.Node, len(fields))
	encs := make([]encoder, len(fields))
	b := &builder{}
	for i, f := range fields {
		node, enc, err := b.field(f, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("field %q: %w", f.Name, err)
		}
		if leaf, ok := enc.(*leafEncoder); ok {
			leaf.top = true // written in row ranges, through its columnar view
		}
		names[i], nodes[i], encs[i] = f.Name, node, enc
	}
	if dup := duplicateName(names); dup != "" {
		return nil, nil, fmt.Errorf("field %q appears twice in the schema", dup)
	}
	return pq.NewSchema(name, newOrderedGroup(names, nodes)), encs, nil
}

func duplicateName(names []string) string {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return n
		}
		seen[n] = true
	}
	return ""
}

// builder numbers leaf columns in schema order while nodes are built.
type builder struct{ nextColumn int }

// field returns the Parquet node of an Arrow field (optional when the field
// is nullable) and its encoder. rep is the repetition depth of the field.
func (b *builder) field(f arrow.Field, rep int) (pq.Node, encoder, error) {
	node, enc, err := b.typ(f.Type, rep)
	if err != nil {
		return nil, nil, err
	}
	if f.Nullable {
		node = pq.Optional(node)
		enc.setOptional()
	} else {
		node = pq.Required(node)
	}
	return node, enc, nil
}

func (b *builder) leaf(node pq.Node, conv converter, flat flatReader) (pq.Node, encoder, error) {
	enc := &leafEncoder{column: b.nextColumn, conv: conv, flat: flat}
	b.nextColumn++
	return node, enc, nil
}

func (b *builder) typ(dt arrow.DataType, rep int) (pq.Node, encoder, error) {
	if ext, ok := dt.(arrow.ExtensionType); ok {
		if ext.ExtensionName() == uuidExtension {
			if st, ok := ext.StorageType().(*arrow.FixedSizeBinaryType); ok && st.ByteWidth == 16 {
				return b.leaf(pq.UUID(), convFixedBinary, flatFixedBinary)
			}
		}
		if ext.ExtensionName() == jsonExtension {
			return b.leaf(pq.JSON(), convBinaryLike, flatBinaryLike)
		}
		return b.typ(ext.StorageType(), rep)
	}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return b.leaf(pq.Leaf(pq.BooleanType), convBool, flatBool)
	case *arrow.Int8Type:
		return b.leaf(pq.Int(8), convInt8, flatInt8)
	case *arrow.Int16Type:
		return b.leaf(pq.Int(16), convInt16, flatInt16)
	case *arrow.Int32Type:
		return b.leaf(pq.Int(32), convInt32, flatInt32)
	case *arrow.Int64Type:
		return b.leaf(pq.Int(64), convInt64, flatInt64)
	case *arrow.Uint8Type:
		return b.leaf(pq.Uint(8), convUint8, flatUint8)
	case *arrow.Uint16Type:
		return b.leaf(pq.Uint(16), convUint16, flatUint16)
	case *arrow.Uint32Type:
		return b.leaf(pq.Uint(32), convUint32, flatUint32)
	case *arrow.Uint64Type:
		return b.leaf(pq.Uint(64), convUint64, flatUint64)
	case *arrow.Float16Type:
		return b.leaf(pq.Leaf(pq.FloatType), convFloat16, flatFloat16)
	case *arrow.Float32Type:
		return b.leaf(pq.Leaf(pq.FloatType), convFloat32, flatFloat32)
	case *arrow.Float64Type:
		return b.leaf(pq.Leaf(pq.DoubleType), convFloat64, flatFloat64)
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return b.leaf(pq.String(), convBinaryLike, flatBinaryLike)
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType:
		return b.leaf(pq.Leaf(pq.ByteArrayType), convBinaryLike, flatBinaryLike)
	case *arrow.FixedSizeBinaryType:
		return b.leaf(pq.Leaf(pq.FixedLenByteArrayType(t.ByteWidth)), convFixedBinary, flatFixedBinary)
	case *arrow.Decimal128Type:
		return b.decimal(int(t.Precision), int(t.Scale), 16)
	case *arrow.Decimal256Type:
		return b.decimal(int(t.Precision), int(t.Scale), 32)
	case *arrow.Date32Type:
		return b.leaf(pq.Date(), convDate32, flatDate32)
	case *arrow.Date64Type:
		return b.leaf(pq.Date(), convDate64, flatDate64)
	case *arrow.TimestampType:
		// A time zone makes an Arrow timestamp an instant: Parquet's
		// isAdjustedToUTC=true. Without one it is a wall-clock (local) time.
		adjusted := t.TimeZone != ""
		switch t.Unit {
		case arrow.Second:
			return b.leaf(pq.TimestampAdjusted(pq.Millisecond, adjusted), convSecondsToMillis, flatSecondsToMillis)
		case arrow.Millisecond:
			return b.leaf(pq.TimestampAdjusted(pq.Millisecond, adjusted), convInt64Like, flatInt64Like)
		case arrow.Microsecond:
			return b.leaf(pq.TimestampAdjusted(pq.Microsecond, adjusted), convInt64Like, flatInt64Like)
		default:
			return b.leaf(pq.TimestampAdjusted(pq.Nanosecond, adjusted), convInt64Like, flatInt64Like)
		}
	case *arrow.Time32Type:
		if t.Unit == arrow.Second {
			return b.leaf(pq.Time(pq.Millisecond), convTime32SecondsToMillis, flatTime32SecondsToMillis)
		}
		return b.leaf(pq.Time(pq.Millisecond), convTime32, flatTime32)
	case *arrow.Time64Type:
		if t.Unit == arrow.Microsecond {
			return b.leaf(pq.Time(pq.Microsecond), convInt64Like, flatInt64Like)
		}
		return b.leaf(pq.Time(pq.Nanosecond), convInt64Like, flatInt64Like)
	case *arrow.DurationType:
		return b.leaf(pq.Int(64), convInt64Like, flatInt64Like)
	case *arrow.DictionaryType:
		node, enc, err := b.typ(t.ValueType, rep)
		if err != nil {
			return nil, nil, err
		}
		return node, &dictEncoder{value: enc}, nil
	case *arrow.ListType:
		return b.list(t.ElemField(), rep)
	case *arrow.LargeListType:
		return b.list(t.ElemField(), rep)
	case *arrow.FixedSizeListType:
		return b.list(t.ElemField(), rep)
	case *arrow.StructType:
		fields := t.Fields()
		names := make([]string, len(fields))
		nodes := make([]pq.Node, len(fields))
		children := make([]encoder, len(fields))
		for i, f := range fields {
			node, enc, err := b.field(f, rep)
			if err != nil {
				return nil, nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
			names[i], nodes[i], children[i] = f.Name, node, enc
		}
		if len(fields) == 0 {
			return nil, nil, fmt.Errorf("%w: struct with no fields (Parquet groups need at least one column)", ErrUnsupportedType)
		}
		if dup := duplicateName(names); dup != "" {
			return nil, nil, fmt.Errorf("field %q appears twice in a struct", dup)
		}
		return newOrderedGroup(names, nodes), &structEncoder{children: children}, nil
	default:
		return nil, nil, fmt.Errorf("%w: Arrow type %s has no Parquet mapping", ErrUnsupportedType, dt)
	}
}

// list maps an Arrow list to the standard three-level Parquet LIST:
// <list> group (LIST) { repeated group list { <element> } }.
func (b *builder) list(elem arrow.Field, rep int) (pq.Node, encoder, error) {
	node, enc, err := b.field(elem, rep+1)
	if err != nil {
		return nil, nil, fmt.Errorf("list element: %w", err)
	}
	return pq.List(node), &listEncoder{elem: enc, repLevel: byte(rep + 1)}, nil
}

// decimal picks the narrowest physical type Parquet recommends for the
// precision: INT32 up to 9 digits, INT64 up to 18, FIXED_LEN_BYTE_ARRAY
// beyond (16 bytes for Decimal128, 32 for Decimal256).
func (b *builder) decimal(precision, scale, width int) (pq.Node, encoder, error) {
	if precision < 1 {
		return nil, nil, fmt.Errorf("%w: decimal precision %d", ErrUnsupportedType, precision)
	}
	switch {
	case precision <= 9:
		if width == 16 {
			return b.leaf(pq.Decimal(scale, precision, pq.Int32Type), convDecimal128ToInt32, flatDecimal128ToInt32)
		}
		return b.leaf(pq.Decimal(scale, precision, pq.Int32Type), convDecimal256ToInt32, flatDecimal256ToInt32)
	case precision <= 18:
		if width == 16 {
			return b.leaf(pq.Decimal(scale, precision, pq.Int64Type), convDecimal128ToInt64, flatDecimal128ToInt64)
		}
		return b.leaf(pq.Decimal(scale, precision, pq.Int64Type), convDecimal256ToInt64, flatDecimal256ToInt64)
	case width == 16:
		return b.leaf(pq.Decimal(scale, precision, pq.FixedLenByteArrayType(16)), convDecimal128ToFixed, flatDecimal128ToFixed)
	default:
		return b.leaf(pq.Decimal(scale, precision, pq.FixedLenByteArrayType(32)), convDecimal256ToFixed, flatDecimal256ToFixed)
	}
}
