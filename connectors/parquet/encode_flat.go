package parquet

// The columnar path of flat columns. A top-level column that is not a list,
// a struct or a dictionary is read straight from its Arrow buffers as a slice
// of its Parquet physical type (zero-copy where the Arrow layout already is
// that type, one conversion pass otherwise). A required column's slice goes
// into the writer's column buffer in one typed call (see columnbuf.go); an
// optional column, or a buffer without a typed writer, gets parquet.Value
// values built in a tight loop from the same slice, with definition levels
// from the validity bitmap. Everything else takes the per-value encoders.

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/bitutil"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/decimal256"
	"github.com/apache/arrow/go/v17/arrow/float16"
	pq "github.com/parquet-go/parquet-go"
)

// A flatView holds the rows of one bound Arrow array in the physical type
// of its Parquet column.
type flatView interface {
	// bulk writes rows [from, to) of a required column into buf through
	// the buffer's typed interface. It returns false, having written
	// nothing, when buf has no typed writer for the view's type.
	bulk(buf pq.ColumnBuffer, from, to int) (bool, error)
	// values appends rows [from, to) as values: at levels 0/0 for a
	// required column; for an optional one at definition level 1, or 0 for
	// a null. Column indexes are left unset: the writer's flat column
	// buffers read the value and the definition level only.
	values(dst []pq.Value, from, to int, optional bool) []pq.Value
}

// A flatReader returns the view of an array (extension storage already
// unwrapped), nil when the array's layout is not one the views read (the
// per-value path then takes it), or an error when its buffers are
// inconsistent with its length.
type flatReader func(arr arrow.Array) (flatView, error)

// validity is an array's null bitmap, with bits nil when it has no nulls.
type validity struct {
	bits []byte
	off  int
}

func validityOf(arr arrow.Array) (validity, error) {
	if arr.NullN() == 0 {
		return validity{}, nil
	}
	bits, off := arr.NullBitmapBytes(), arr.Data().Offset()
	if len(bits)*8 < off+arr.Len() {
		return validity{}, fmt.Errorf("%s array of %d rows has %d nulls and a validity bitmap of %d bytes", arr.DataType(), arr.Len(), arr.NullN(), len(bits))
	}
	return validity{bits: bits, off: off}, nil
}

func (v validity) valid(i int) bool { return bitutil.BitIsSet(v.bits, v.off+i) }

// number is a fixed-width Parquet physical type.
type number interface {
	int32 | int64 | float32 | float64
}

// numView is a column of a fixed-width type; rows returns the values of
// rows [from, to), valid until the next call.
type numView[T number] struct {
	validity
	rows func(from, to int) []T
}

// The unsigned buffers (parquet.Uint(n) columns) take the same bits.
type uint32Writer interface {
	WriteUint32s(values []uint32) (int, error)
}
type uint64Writer interface {
	WriteUint64s(values []uint64) (int, error)
}

func (v *numView[T]) bulk(buf pq.ColumnBuffer, from, to int) (bool, error) {
	var err error
	switch any(T(0)).(type) {
	case int32:
		switch w := buf.(type) {
		case pq.Int32Writer:
			_, err = w.WriteInt32s(as[int32](v.rows(from, to)))
		case uint32Writer:
			_, err = w.WriteUint32s(as[uint32](v.rows(from, to)))
		default:
			return false, nil
		}
	case int64:
		switch w := buf.(type) {
		case pq.Int64Writer:
			_, err = w.WriteInt64s(as[int64](v.rows(from, to)))
		case uint64Writer:
			_, err = w.WriteUint64s(as[uint64](v.rows(from, to)))
		default:
			return false, nil
		}
	case float32:
		w, ok := buf.(pq.FloatWriter)
		if !ok {
			return false, nil
		}
		_, err = w.WriteFloats(as[float32](v.rows(from, to)))
	case float64:
		w, ok := buf.(pq.DoubleWriter)
		if !ok {
			return false, nil
		}
		_, err = w.WriteDoubles(as[float64](v.rows(from, to)))
	}
	return true, err
}

func (v *numView[T]) values(dst []pq.Value, from, to int, optional bool) []pq.Value {
	switch vals := any(v.rows(from, to)).(type) {
	case []int32:
		return appendInt32s(dst, vals, v.validity, from, optional)
	case []int64:
		return appendInt64s(dst, vals, v.validity, from, optional)
	case []float32:
		return appendFloats(dst, vals, v.validity, from, optional)
	case []float64:
		return appendDoubles(dst, vals, v.validity, from, optional)
	}
	return dst
}

// The loops below are the same but for the value constructor, which must
// be a direct call to be inlined. Values are stored by index into space
// grown once: appending, or Value.Level (not inlined), costs more than
// what the loop does.

// grow extends dst by n values, returning it and the n new values.
func grow(dst []pq.Value, n int) (all, added []pq.Value) {
	l := len(dst)
	dst = slices.Grow(dst, n)[:l+n]
	return dst, dst[l:]
}

// defined sets the values of a column without nulls at definition level 1,
// that of a present value of an optional top-level column.
func defined(vals []pq.Value) {
	for i := range vals {
		vals[i].SetDefinitionLevel(1)
	}
}

func appendInt32s(dst []pq.Value, vals []int32, nulls validity, from int, optional bool) []pq.Value {
	dst, out := grow(dst, len(vals))
	if nulls.bits == nil {
		for i, x := range vals {
			out[i] = pq.Int32Value(x)
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i, x := range vals {
		if nulls.valid(from + i) {
			out[i] = pq.Int32Value(x)
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

func appendInt64s(dst []pq.Value, vals []int64, nulls validity, from int, optional bool) []pq.Value {
	dst, out := grow(dst, len(vals))
	if nulls.bits == nil {
		for i, x := range vals {
			out[i] = pq.Int64Value(x)
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i, x := range vals {
		if nulls.valid(from + i) {
			out[i] = pq.Int64Value(x)
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

func appendFloats(dst []pq.Value, vals []float32, nulls validity, from int, optional bool) []pq.Value {
	dst, out := grow(dst, len(vals))
	if nulls.bits == nil {
		for i, x := range vals {
			out[i] = pq.FloatValue(x)
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i, x := range vals {
		if nulls.valid(from + i) {
			out[i] = pq.FloatValue(x)
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

func appendDoubles(dst []pq.Value, vals []float64, nulls validity, from int, optional bool) []pq.Value {
	dst, out := grow(dst, len(vals))
	if nulls.bits == nil {
		for i, x := range vals {
			out[i] = pq.DoubleValue(x)
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i, x := range vals {
		if nulls.valid(from + i) {
			out[i] = pq.DoubleValue(x)
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

// as reinterprets a slice as another element type of the same size.
func as[P, A any](a []A) []P {
	return unsafe.Slice((*P)(unsafe.Pointer(unsafe.SliceData(a))), len(a))
}

// direct views Arrow values that are already the physical type's bits.
func direct[T number, A any](arr arrow.Array, vals []A) (flatView, error) {
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	if len(vals) != arr.Len() {
		return nil, fmt.Errorf("%s array of %d rows has %d values", arr.DataType(), arr.Len(), len(vals))
	}
	phys := as[T](vals)
	return &numView[T]{validity: nulls, rows: func(from, to int) []T { return phys[from:to] }}, nil
}

// converted views Arrow values through a conversion, into a slice reused
// from one call to the next.
func converted[T number, A any](arr arrow.Array, vals []A, conv func(A) T) (flatView, error) {
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	if len(vals) != arr.Len() {
		return nil, fmt.Errorf("%s array of %d rows has %d values", arr.DataType(), arr.Len(), len(vals))
	}
	var scratch []T
	return &numView[T]{validity: nulls, rows: func(from, to int) []T {
		scratch = scratch[:0]
		for _, x := range vals[from:to] {
			scratch = append(scratch, conv(x))
		}
		return scratch
	}}, nil
}

// boolView is a boolean column: Arrow's bit-packed values.
type boolView struct {
	validity
	bits    []byte
	off     int
	scratch []bool
}

func (v *boolView) bulk(buf pq.ColumnBuffer, from, to int) (bool, error) {
	w, ok := buf.(pq.BooleanWriter)
	if !ok {
		return false, nil
	}
	v.scratch = unpackBits(v.scratch, v.bits, v.off+from, to-from)
	_, err := w.WriteBooleans(v.scratch)
	return true, err
}

// bitsOfByte[b] is the byte b as 8 booleans, least significant bit first
// (Arrow's bit order).
var bitsOfByte = func() (t [256][8]bool) {
	for b := range t {
		for k := range 8 {
			t[b][k] = b>>k&1 == 1
		}
	}
	return t
}()

// unpackBits returns bits [off, off+n) of bitmap as booleans, in dst's
// space when it has room.
func unpackBits(dst []bool, bitmap []byte, off, n int) []bool {
	if cap(dst) < n {
		dst = make([]bool, n)
	}
	dst = dst[:n]
	i := 0
	for ; i < n && (off+i)%8 != 0; i++ {
		dst[i] = bitutil.BitIsSet(bitmap, off+i)
	}
	for ; i+8 <= n; i += 8 {
		*(*[8]bool)(dst[i : i+8]) = bitsOfByte[bitmap[(off+i)/8]]
	}
	for ; i < n; i++ {
		dst[i] = bitutil.BitIsSet(bitmap, off+i)
	}
	return dst
}

func (v *boolView) values(dst []pq.Value, from, to int, optional bool) []pq.Value {
	dst, out := grow(dst, to-from)
	if v.validity.bits == nil {
		for i := range out {
			out[i] = pq.BooleanValue(bitutil.BitIsSet(v.bits, v.off+from+i))
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i := range out {
		if v.valid(from + i) {
			out[i] = pq.BooleanValue(bitutil.BitIsSet(v.bits, v.off+from+i))
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

// bytesView is a variable-length column (strings, binary): row i is
// data[offsets[i]:offsets[i+1]].
type bytesView[O int32 | int64] struct {
	validity
	offsets []O
	data    []byte
}

// bulk declines: the byte-array buffers take PLAIN-encoded input only, and
// encoding it costs more than the values, which the buffer copies in one
// pass.
func (v *bytesView[O]) bulk(pq.ColumnBuffer, int, int) (bool, error) { return false, nil }

func (v *bytesView[O]) values(dst []pq.Value, from, to int, optional bool) []pq.Value {
	offs := v.offsets[from : to+1]
	dst, out := grow(dst, to-from)
	if v.validity.bits == nil {
		for i := range out {
			out[i] = pq.ByteArrayValue(v.data[offs[i]:offs[i+1]])
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i := range out {
		if v.valid(from + i) {
			out[i] = pq.ByteArrayValue(v.data[offs[i]:offs[i+1]])
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

func newBytesView[O int32 | int64](arr arrow.Array, offsets []O) (flatView, error) {
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	var data []byte
	if bufs := arr.Data().Buffers(); len(bufs) > 2 && bufs[2] != nil {
		data = bufs[2].Bytes()
	}
	// Checked once here so that slicing in the loops cannot go out of range.
	if len(offsets) != arr.Len()+1 {
		return nil, fmt.Errorf("%s array of %d rows has %d offsets", arr.DataType(), arr.Len(), len(offsets))
	}
	// Non-decreasing from a first offset >= 0 to a last one within the
	// data: every row's slice is then in range.
	if offsets[0] < 0 || int64(offsets[len(offsets)-1]) > int64(len(data)) {
		return nil, fmt.Errorf("%s array has offsets %d..%d outside its %d bytes of data", arr.DataType(), offsets[0], offsets[len(offsets)-1], len(data))
	}
	prev := offsets[0]
	for i, o := range offsets {
		if o < prev {
			return nil, fmt.Errorf("%s array has decreasing offsets at row %d", arr.DataType(), i)
		}
		prev = o
	}
	return &bytesView[O]{validity: nulls, offsets: offsets, data: data}, nil
}

// be128Writer is the writer of 16-byte columns (UUID, and the
// FIXED_LEN_BYTE_ARRAY(16) of decimals).
type be128Writer interface {
	WriteBE128s(values [][16]byte) (int, error)
}

// fixedView is a FIXED_LEN_BYTE_ARRAY column of width bytes; rows returns
// the bytes of rows [from, to), valid until the next call.
type fixedView struct {
	validity
	width int
	rows  func(from, to int) []byte
}

func (v *fixedView) bulk(buf pq.ColumnBuffer, from, to int) (bool, error) {
	var err error
	switch w := buf.(type) {
	case pq.FixedLenByteArrayWriter:
		_, err = w.WriteFixedLenByteArrays(v.rows(from, to))
	case be128Writer:
		if v.width != 16 {
			return false, nil
		}
		b := v.rows(from, to)
		_, err = w.WriteBE128s(unsafe.Slice((*[16]byte)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/16))
	default:
		return false, nil
	}
	return true, err
}

func (v *fixedView) values(dst []pq.Value, from, to int, optional bool) []pq.Value {
	b, w := v.rows(from, to), v.width
	dst, out := grow(dst, to-from)
	if v.validity.bits == nil {
		for i := range out {
			out[i] = pq.FixedLenByteArrayValue(b[i*w : i*w+w : i*w+w])
		}
		if optional {
			defined(out)
		}
		return dst
	}
	for i := range out {
		if v.valid(from + i) {
			out[i] = pq.FixedLenByteArrayValue(b[i*w : i*w+w : i*w+w])
			out[i].SetDefinitionLevel(1)
		} else {
			out[i] = pq.Value{}
		}
	}
	return dst
}

// Readers, one per Arrow layout and conversion; they mirror the converters
// in encode_values.go, which the per-value path uses.

func flatBool(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Boolean](arr)
	if err != nil {
		return nil, err
	}
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	var bits []byte
	if bufs := a.Data().Buffers(); len(bufs) > 1 && bufs[1] != nil {
		bits = bufs[1].Bytes()
	}
	off := a.Data().Offset()
	if len(bits)*8 < off+a.Len() {
		return nil, fmt.Errorf("boolean array of %d rows has %d bytes of values", a.Len(), len(bits))
	}
	return &boolView{validity: nulls, bits: bits, off: off}, nil
}

func flatInt8(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Int8](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Int8Values(), func(x int8) int32 { return int32(x) })
}

func flatInt16(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Int16](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Int16Values(), func(x int16) int32 { return int32(x) })
}

func flatInt32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Int32](arr)
	if err != nil {
		return nil, err
	}
	return direct[int32](arr, a.Int32Values())
}

func flatInt64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Int64](arr)
	if err != nil {
		return nil, err
	}
	return direct[int64](arr, a.Int64Values())
}

func flatUint8(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Uint8](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Uint8Values(), func(x uint8) int32 { return int32(x) })
}

func flatUint16(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Uint16](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Uint16Values(), func(x uint16) int32 { return int32(x) })
}

func flatUint32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Uint32](arr)
	if err != nil {
		return nil, err
	}
	return direct[int32](arr, a.Uint32Values())
}

func flatUint64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Uint64](arr)
	if err != nil {
		return nil, err
	}
	return direct[int64](arr, a.Uint64Values())
}

func flatFloat16(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Float16](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Values(), float16.Num.Float32)
}

func flatFloat32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Float32](arr)
	if err != nil {
		return nil, err
	}
	return direct[float32](arr, a.Float32Values())
}

func flatFloat64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Float64](arr)
	if err != nil {
		return nil, err
	}
	return direct[float64](arr, a.Float64Values())
}

// flatBinaryLike reads the offset layouts; the view layouts (StringView,
// BinaryView) have no offsets and take the per-value path.
func flatBinaryLike(arr arrow.Array) (flatView, error) {
	switch a := arr.(type) {
	case *array.String:
		return newBytesView(arr, a.ValueOffsets())
	case *array.Binary:
		return newBytesView(arr, a.ValueOffsets())
	case *array.LargeString:
		return newBytesView(arr, a.ValueOffsets())
	case *array.LargeBinary:
		return newBytesView(arr, a.ValueOffsets())
	}
	return nil, nil
}

func flatFixedBinary(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.FixedSizeBinary](arr)
	if err != nil {
		return nil, err
	}
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	w := a.DataType().(*arrow.FixedSizeBinaryType).ByteWidth
	var data []byte
	if bufs := a.Data().Buffers(); len(bufs) > 1 && bufs[1] != nil {
		data = bufs[1].Bytes()
	}
	off := a.Data().Offset()
	if w <= 0 || len(data) < (off+a.Len())*w {
		return nil, fmt.Errorf("fixed_size_binary[%d] array of %d rows has %d bytes of values", w, a.Len(), len(data))
	}
	data = data[off*w : (off+a.Len())*w]
	return &fixedView{validity: nulls, width: w, rows: func(from, to int) []byte { return data[from*w : to*w] }}, nil
}

func flatDate32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Date32](arr)
	if err != nil {
		return nil, err
	}
	return direct[int32](arr, a.Date32Values())
}

func flatDate64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Date64](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Date64Values(), func(x arrow.Date64) int32 {
		ms := int64(x)
		days := ms / millisPerDay
		if ms%millisPerDay < 0 {
			days--
		}
		return int32(days)
	})
}

// int64Values returns the values of the 64-bit temporal arrays.
func int64Values(arr arrow.Array) ([]int64, error) {
	switch a := arr.(type) {
	case *array.Timestamp:
		return as[int64](a.TimestampValues()), nil
	case *array.Time64:
		return as[int64](a.Time64Values()), nil
	case *array.Duration:
		return as[int64](a.DurationValues()), nil
	case *array.Int64:
		return a.Int64Values(), nil
	}
	return nil, fmt.Errorf("array of type %s does not match the schema", arr.DataType())
}

func flatInt64Like(arr arrow.Array) (flatView, error) {
	vals, err := int64Values(arr)
	if err != nil {
		return nil, err
	}
	return direct[int64](arr, vals)
}

func flatSecondsToMillis(arr arrow.Array) (flatView, error) {
	vals, err := int64Values(arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, vals, func(x int64) int64 { return x * 1000 })
}

func flatTime32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Time32](arr)
	if err != nil {
		return nil, err
	}
	return direct[int32](arr, a.Time32Values())
}

func flatTime32SecondsToMillis(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Time32](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Time32Values(), func(x arrow.Time32) int32 { return int32(x) * 1000 })
}

func flatDecimal128ToInt32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal128](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Values(), func(n decimal128.Num) int32 { return int32(n.LowBits()) })
}

func flatDecimal128ToInt64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal128](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Values(), func(n decimal128.Num) int64 { return int64(n.LowBits()) })
}

func flatDecimal256ToInt32(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal256](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Values(), func(n decimal256.Num) int32 { return int32(n.Array()[0]) })
}

func flatDecimal256ToInt64(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal256](arr)
	if err != nil {
		return nil, err
	}
	return converted(arr, a.Values(), func(n decimal256.Num) int64 { return int64(n.Array()[0]) })
}

// flatDecimalToFixed writes unscaled decimals as big-endian two's
// complement, as the Parquet DECIMAL spec requires (see
// convDecimal128ToFixed), into a buffer reused from one call to the next.
func flatDecimalToFixed[N any](arr arrow.Array, vals []N, width int, put func(b []byte, n N)) (flatView, error) {
	nulls, err := validityOf(arr)
	if err != nil {
		return nil, err
	}
	if len(vals) != arr.Len() {
		return nil, fmt.Errorf("%s array of %d rows has %d values", arr.DataType(), arr.Len(), len(vals))
	}
	var scratch []byte
	return &fixedView{validity: nulls, width: width, rows: func(from, to int) []byte {
		if n := (to - from) * width; cap(scratch) < n {
			scratch = make([]byte, n)
		} else {
			scratch = scratch[:n]
		}
		for i, n := range vals[from:to] {
			put(scratch[i*width:i*width+width], n)
		}
		return scratch
	}}, nil
}

func flatDecimal128ToFixed(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal128](arr)
	if err != nil {
		return nil, err
	}
	return flatDecimalToFixed(arr, a.Values(), 16, putDecimal128)
}

func flatDecimal256ToFixed(arr arrow.Array) (flatView, error) {
	a, err := typed[*array.Decimal256](arr)
	if err != nil {
		return nil, err
	}
	return flatDecimalToFixed(arr, a.Values(), 32, putDecimal256)
}
