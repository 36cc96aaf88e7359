package parquet

import (
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	pq "github.com/parquet-go/parquet-go"
)

// An encoder turns the rows of one Arrow column into Parquet column values
// with repetition and definition levels (Dremel encoding). The sink binds the
// encoder to a batch's array once, then asks for rows one at a time; values
// are appended to out[column], one slice per Parquet leaf column, so the
// writer receives whole columns rather than transposed rows.
type encoder interface {
	setOptional()
	// bind prepares the encoder for the rows of arr.
	bind(arr arrow.Array) error
	// write appends the values of row i. rep is the repetition level of the
	// first value and def the definition level reached by the ancestors.
	write(i int, rep, def byte, out [][]pq.Value)
	// writeNull appends a null (at definition level def) to every leaf under
	// the encoder: the encoder's value, or an ancestor, is null or empty.
	writeNull(rep, def byte, out [][]pq.Value)
	// writeRange appends the values of top-level rows [from, to).
	writeRange(from, to int, out [][]pq.Value)
}

// rowByRow implements writeRange with write, for nested encoders.
func rowByRow(e encoder, from, to int, out [][]pq.Value) {
	for i := from; i < to; i++ {
		e.write(i, 0, 0, out)
	}
}

func (e *structEncoder) writeRange(from, to int, out [][]pq.Value) { rowByRow(e, from, to, out) }
func (e *listEncoder) writeRange(from, to int, out [][]pq.Value)   { rowByRow(e, from, to, out) }
func (e *dictEncoder) writeRange(from, to int, out [][]pq.Value)   { rowByRow(e, from, to, out) }

// writeRange writes top-level rows [from, to) of a flat column: from the
// columnar view of its Arrow buffers when it has one (encode_flat.go), else
// value by value.
func (e *leafEncoder) writeRange(from, to int, out [][]pq.Value) {
	col := e.column
	if e.view != nil {
		out[col] = e.view.values(out[col], from, to, e.optional)
		return
	}
	dst := out[col]
	if !e.optional || e.arr.NullN() == 0 {
		def := 0
		if e.optional {
			def = 1
		}
		for i := from; i < to; i++ {
			dst = append(dst, e.get(i).Level(0, def, col))
		}
		out[col] = dst
		return
	}
	for i := from; i < to; i++ {
		if e.arr.IsNull(i) {
			dst = append(dst, pq.NullValue().Level(0, 0, col))
		} else {
			dst = append(dst, e.get(i).Level(0, 1, col))
		}
	}
	out[col] = dst
}

// converter returns, for an array, a function producing the Parquet value of
// a non-null row. It runs once per batch, so the per-row function needs no
// type switch.
type converter func(arr arrow.Array) (func(i int) pq.Value, error)

type leafEncoder struct {
	column   int
	optional bool
	conv     converter
	flat     flatReader // nil: no columnar view of this type
	top      bool       // a top-level column: rows are written in ranges
	perValue bool       // bind no view (the reference path of tests)
	arr      arrow.Array
	get      func(i int) pq.Value
	view     flatView // of arr, when top and the layout has one
}

func (e *leafEncoder) setOptional() { e.optional = true }

func (e *leafEncoder) bind(arr arrow.Array) error {
	if ext, ok := arr.(array.ExtensionArray); ok {
		arr = ext.Storage()
	}
	e.arr, e.get, e.view = arr, nil, nil
	if e.top && e.flat != nil && !e.perValue {
		view, err := e.flat(arr)
		if err != nil {
			return err
		}
		if view != nil {
			// A top-level column is written in ranges, all through the
			// view: no per-value getter is needed.
			e.view = view
			return nil
		}
	}
	get, err := e.conv(arr)
	if err != nil {
		return err
	}
	e.get = get
	return nil
}

func (e *leafEncoder) write(i int, rep, def byte, out [][]pq.Value) {
	if e.optional {
		if e.arr.IsNull(i) {
			out[e.column] = append(out[e.column], pq.NullValue().Level(int(rep), int(def), e.column))
			return
		}
		def++
	}
	out[e.column] = append(out[e.column], e.get(i).Level(int(rep), int(def), e.column))
}

func (e *leafEncoder) writeNull(rep, def byte, out [][]pq.Value) {
	out[e.column] = append(out[e.column], pq.NullValue().Level(int(rep), int(def), e.column))
}

type structEncoder struct {
	optional bool
	children []encoder
	arr      arrow.Array
}

func (e *structEncoder) setOptional() { e.optional = true }

func (e *structEncoder) bind(arr arrow.Array) error {
	s, ok := arr.(*array.Struct)
	if !ok {
		return fmt.Errorf("expected a struct array, got %s", arr.DataType())
	}
	if s.NumField() != len(e.children) {
		return fmt.Errorf("struct has %d fields, schema has %d", s.NumField(), len(e.children))
	}
	for i, c := range e.children {
		if err := c.bind(s.Field(i)); err != nil {
			return err
		}
	}
	e.arr = arr
	return nil
}

func (e *structEncoder) write(i int, rep, def byte, out [][]pq.Value) {
	if e.optional {
		if e.arr.IsNull(i) {
			e.writeNull(rep, def, out)
			return
		}
		def++
	}
	for _, c := range e.children {
		c.write(i, rep, def, out)
	}
}

func (e *structEncoder) writeNull(rep, def byte, out [][]pq.Value) {
	for _, c := range e.children {
		c.writeNull(rep, def, out)
	}
}

type listEncoder struct {
	optional bool
	repLevel byte // repetition level of the repeated "list" group
	elem     encoder
	arr      arrow.Array
	offsets  func(i int) (int64, int64)
}

func (e *listEncoder) setOptional() { e.optional = true }

func (e *listEncoder) bind(arr arrow.Array) error {
	var values arrow.Array
	switch a := arr.(type) {
	case *array.List:
		values, e.offsets = a.ListValues(), a.ValueOffsets
	case *array.LargeList:
		values, e.offsets = a.ListValues(), a.ValueOffsets
	case *array.FixedSizeList:
		values, e.offsets = a.ListValues(), a.ValueOffsets
	default:
		return fmt.Errorf("expected a list array, got %s", arr.DataType())
	}
	e.arr = arr
	return e.elem.bind(values)
}

func (e *listEncoder) write(i int, rep, def byte, out [][]pq.Value) {
	if e.optional {
		if e.arr.IsNull(i) {
			e.elem.writeNull(rep, def, out)
			return
		}
		def++
	}
	start, end := e.offsets(i)
	if start == end {
		// The list is present but empty: no repeated entry is defined.
		e.elem.writeNull(rep, def, out)
		return
	}
	for j := start; j < end; j++ {
		r := e.repLevel
		if j == start {
			r = rep
		}
		e.elem.write(int(j), r, def+1, out)
	}
}

func (e *listEncoder) writeNull(rep, def byte, out [][]pq.Value) { e.elem.writeNull(rep, def, out) }

// dictEncoder writes dictionary-encoded Arrow columns as their plain values;
// Parquet applies its own dictionary encoding per column chunk.
type dictEncoder struct {
	optional bool
	value    encoder
	arr      *array.Dictionary
	dict     arrow.Array
}

func (e *dictEncoder) setOptional() { e.optional = true }

func (e *dictEncoder) bind(arr arrow.Array) error {
	d, ok := arr.(*array.Dictionary)
	if !ok {
		return fmt.Errorf("expected a dictionary array, got %s", arr.DataType())
	}
	e.arr, e.dict = d, d.Dictionary()
	return e.value.bind(e.dict)
}

func (e *dictEncoder) write(i int, rep, def byte, out [][]pq.Value) {
	if e.optional {
		if e.arr.IsNull(i) || e.dict.IsNull(e.arr.GetValueIndex(i)) {
			e.value.writeNull(rep, def, out)
			return
		}
		def++
	}
	e.value.write(e.arr.GetValueIndex(i), rep, def, out)
}

func (e *dictEncoder) writeNull(rep, def byte, out [][]pq.Value) { e.value.writeNull(rep, def, out) }
