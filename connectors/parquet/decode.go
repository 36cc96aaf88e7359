package parquet

import (
	"encoding/json"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
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
