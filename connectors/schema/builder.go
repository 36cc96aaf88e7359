package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// RecordBuilder accumulates JSON objects as rows of an Arrow record batch
// with a fixed schema. A row that does not fit the schema is refused with an
// error naming the field, and nothing of it is appended, so one bad record
// does not corrupt a batch. Keys not in the schema are ignored.
//
// A RecordBuilder is not safe for concurrent use.
type RecordBuilder struct {
	schema *arrow.Schema
	b      *array.RecordBuilder
	index  map[string]int
	vals   []any // scratch: converted values of the current row
	raws   []json.RawMessage
	rows   int
}

// NewRecordBuilder returns a builder for schema s. Release it when done.
func NewRecordBuilder(mem memory.Allocator, s *arrow.Schema) *RecordBuilder {
	idx := make(map[string]int, s.NumFields())
	for i, f := range s.Fields() {
		idx[f.Name] = i
	}
	return &RecordBuilder{
		schema: s,
		b:      array.NewRecordBuilder(mem, s),
		index:  idx,
		vals:   make([]any, s.NumFields()),
		raws:   make([]json.RawMessage, s.NumFields()),
	}
}

// Schema returns the builder's schema.
func (rb *RecordBuilder) Schema() *arrow.Schema { return rb.schema }

// Len returns the number of rows appended since the last NewRecord.
func (rb *RecordBuilder) Len() int { return rb.rows }

// AppendJSON appends one row from a JSON object. On error nothing is
// appended.
func (rb *RecordBuilder) AppendJSON(row []byte) error {
	row = bytes.TrimSpace(row)
	if len(row) == 0 || row[0] != '{' {
		return fmt.Errorf("row is not a JSON object: %s", snippet(row))
	}
	clear(rb.raws)
	err := jsonscan.EachMember(row, maxJSONDepth, func(key []byte, escaped bool, val []byte) error {
		i, ok := rb.index[string(key)] // no allocation for the lookup
		if escaped {
			name, err := jsonscan.Name(key, true)
			if err != nil {
				return err
			}
			i, ok = rb.index[name]
		}
		if ok {
			rb.raws[i] = val // a repeated member: the last wins, as in encoding/json
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("row is not valid JSON: %w", err)
	}
	return rb.appendRaws()
}

// AppendMap appends one row from a decoded JSON object (values as produced
// by encoding/json, json.Number included). On error nothing is appended.
func (rb *RecordBuilder) AppendMap(row map[string]any) error {
	clear(rb.raws)
	for k, v := range row {
		i, ok := rb.index[k]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
		rb.raws[i] = b
	}
	return rb.appendRaws()
}

func (rb *RecordBuilder) appendRaws() error {
	for i, f := range rb.schema.Fields() {
		v, err := convert(f.Type, rb.raws[i], 0)
		if err != nil {
			return fmt.Errorf("field %q: %w", f.Name, err)
		}
		if v == nil && !f.Nullable {
			return fmt.Errorf("field %q: %w", f.Name, errNotNullable)
		}
		rb.vals[i] = v
	}
	for i := range rb.vals {
		appendValue(rb.b.Field(i), rb.vals[i])
	}
	rb.rows++
	return nil
}

// NewRecord returns the rows appended so far as a record batch and resets
// the builder. The caller must Release the record.
func (rb *RecordBuilder) NewRecord() arrow.Record {
	rb.rows = 0
	return rb.b.NewRecord()
}

// Release frees the builder's buffers.
func (rb *RecordBuilder) Release() { rb.b.Release() }

// appendValue appends a normalized value (from convert) to b; nil appends a
// null. The value always matches the builder's type because both come from
// the same DataType.
func appendValue(b array.Builder, v any) {
	if v == nil {
		b.AppendNull()
		return
	}
	switch b := b.(type) {
	case *array.ExtensionBuilder:
		appendValue(b.StorageBuilder(), v)
	case *array.BooleanBuilder:
		b.Append(v.(bool))
	case *array.Int8Builder:
		b.Append(int8(v.(int64)))
	case *array.Int16Builder:
		b.Append(int16(v.(int64)))
	case *array.Int32Builder:
		b.Append(int32(v.(int64)))
	case *array.Int64Builder:
		b.Append(v.(int64))
	case *array.Uint8Builder:
		b.Append(uint8(v.(uint64)))
	case *array.Uint16Builder:
		b.Append(uint16(v.(uint64)))
	case *array.Uint32Builder:
		b.Append(uint32(v.(uint64)))
	case *array.Uint64Builder:
		b.Append(v.(uint64))
	case *array.Float32Builder:
		b.Append(float32(v.(float64)))
	case *array.Float64Builder:
		b.Append(v.(float64))
	case *array.StringBuilder:
		b.Append(v.(string))
	case *array.BinaryBuilder:
		b.Append(v.([]byte))
	case *array.FixedSizeBinaryBuilder:
		b.Append(v.([]byte))
	case *array.Decimal128Builder:
		b.Append(v.(decimal128.Num))
	case *array.TimestampBuilder:
		b.Append(v.(arrow.Timestamp))
	case *array.Date32Builder:
		b.Append(v.(arrow.Date32))
	case *array.Time64Builder:
		b.Append(v.(arrow.Time64))
	case *array.ListBuilder:
		items := v.([]any)
		b.Append(true)
		vb := b.ValueBuilder()
		for _, it := range items {
			appendValue(vb, it)
		}
	case *array.StructBuilder:
		fields := v.([]any)
		b.Append(true)
		for i, fv := range fields {
			appendValue(b.FieldBuilder(i), fv)
		}
	default:
		// Unreachable: convert rejects every type without a case here.
		b.AppendNull()
	}
}
