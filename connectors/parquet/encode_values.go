package parquet

// Converters from Arrow arrays to Parquet values, one per Arrow physical
// layout, and the fast paths for flat columns.

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/decimal128"
	"github.com/apache/arrow/go/v17/arrow/decimal256"
	pq "github.com/parquet-go/parquet-go"
)

// Converters, one per Arrow physical layout.

func typed[A arrow.Array](arr arrow.Array) (A, error) {
	a, ok := arr.(A)
	if !ok {
		var zero A
		return zero, fmt.Errorf("array of type %s does not match the schema", arr.DataType())
	}
	return a, nil
}

func convBool(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Boolean](arr)
	return func(i int) pq.Value { return pq.BooleanValue(a.Value(i)) }, err
}

func convInt8(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Int8](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convInt16(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Int16](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convInt32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Int32](arr)
	if err != nil {
		return nil, err
	}
	vals := a.Int32Values()
	return func(i int) pq.Value { return pq.Int32Value(vals[i]) }, nil
}

func convInt64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Int64](arr)
	if err != nil {
		return nil, err
	}
	vals := a.Int64Values()
	return func(i int) pq.Value { return pq.Int64Value(vals[i]) }, nil
}

func convUint8(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Uint8](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convUint16(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Uint16](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convUint32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Uint32](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convUint64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Uint64](arr)
	return func(i int) pq.Value { return pq.Int64Value(int64(a.Value(i))) }, err
}

func convFloat16(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Float16](arr)
	return func(i int) pq.Value { return pq.FloatValue(a.Value(i).Float32()) }, err
}

func convFloat32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Float32](arr)
	return func(i int) pq.Value { return pq.FloatValue(a.Value(i)) }, err
}

func convFloat64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Float64](arr)
	if err != nil {
		return nil, err
	}
	vals := a.Float64Values()
	return func(i int) pq.Value { return pq.DoubleValue(vals[i]) }, nil
}

// bytesOf views a string's bytes without copying; the Parquet writer copies
// them into its own page buffers.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func convBinaryLike(arr arrow.Array) (func(int) pq.Value, error) {
	switch a := arr.(type) {
	case *array.String:
		return func(i int) pq.Value { return pq.ByteArrayValue(bytesOf(a.Value(i))) }, nil
	case *array.LargeString:
		return func(i int) pq.Value { return pq.ByteArrayValue(bytesOf(a.Value(i))) }, nil
	case *array.StringView:
		return func(i int) pq.Value { return pq.ByteArrayValue(bytesOf(a.Value(i))) }, nil
	case *array.Binary:
		return func(i int) pq.Value { return pq.ByteArrayValue(a.Value(i)) }, nil
	case *array.LargeBinary:
		return func(i int) pq.Value { return pq.ByteArrayValue(a.Value(i)) }, nil
	case *array.BinaryView:
		return func(i int) pq.Value { return pq.ByteArrayValue(a.Value(i)) }, nil
	}
	return nil, fmt.Errorf("array of type %s does not match the schema", arr.DataType())
}

func convFixedBinary(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.FixedSizeBinary](arr)
	return func(i int) pq.Value { return pq.FixedLenByteArrayValue(a.Value(i)) }, err
}

const millisPerDay = 86_400_000

func convDate32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Date32](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convDate64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Date64](arr)
	return func(i int) pq.Value {
		ms := int64(a.Value(i))
		days := ms / millisPerDay
		if ms%millisPerDay < 0 {
			days--
		}
		return pq.Int32Value(int32(days))
	}, err
}

// int64Like covers the 64-bit temporal arrays, whose values are int64.
func int64Like(arr arrow.Array) (func(int) int64, error) {
	switch a := arr.(type) {
	case *array.Timestamp:
		return func(i int) int64 { return int64(a.Value(i)) }, nil
	case *array.Time64:
		return func(i int) int64 { return int64(a.Value(i)) }, nil
	case *array.Duration:
		return func(i int) int64 { return int64(a.Value(i)) }, nil
	case *array.Int64:
		return a.Value, nil
	}
	return nil, fmt.Errorf("array of type %s does not match the schema", arr.DataType())
}

func convInt64Like(arr arrow.Array) (func(int) pq.Value, error) {
	get, err := int64Like(arr)
	return func(i int) pq.Value { return pq.Int64Value(get(i)) }, err
}

func convSecondsToMillis(arr arrow.Array) (func(int) pq.Value, error) {
	get, err := int64Like(arr)
	return func(i int) pq.Value { return pq.Int64Value(get(i) * 1000) }, err
}

func convTime32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Time32](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i))) }, err
}

func convTime32SecondsToMillis(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Time32](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i)) * 1000) }, err
}

func convDecimal128ToInt32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal128](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i).LowBits())) }, err
}

func convDecimal128ToInt64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal128](arr)
	return func(i int) pq.Value { return pq.Int64Value(int64(a.Value(i).LowBits())) }, err
}

// convDecimal128ToFixed writes the unscaled value as 16 big-endian bytes in
// two's complement, as the Parquet DECIMAL spec requires.
func convDecimal128ToFixed(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal128](arr)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 16*a.Len())
	return func(i int) pq.Value {
		b := buf[16*i : 16*i+16 : 16*i+16]
		putDecimal128(b, a.Value(i))
		return pq.FixedLenByteArrayValue(b)
	}, nil
}

// putDecimal128 writes n to b[:16] as big-endian two's complement.
func putDecimal128(b []byte, n decimal128.Num) {
	binary.BigEndian.PutUint64(b[:8], uint64(n.HighBits()))
	binary.BigEndian.PutUint64(b[8:16], n.LowBits())
}

func convDecimal256ToInt32(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal256](arr)
	return func(i int) pq.Value { return pq.Int32Value(int32(a.Value(i).Array()[0])) }, err
}

func convDecimal256ToInt64(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal256](arr)
	return func(i int) pq.Value { return pq.Int64Value(int64(a.Value(i).Array()[0])) }, err
}

func convDecimal256ToFixed(arr arrow.Array) (func(int) pq.Value, error) {
	a, err := typed[*array.Decimal256](arr)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 32*a.Len())
	return func(i int) pq.Value {
		b := buf[32*i : 32*i+32 : 32*i+32]
		putDecimal256(b, a.Value(i))
		return pq.FixedLenByteArrayValue(b)
	}, nil
}

// putDecimal256 writes n to b[:32] as big-endian two's complement.
func putDecimal256(b []byte, n decimal256.Num) {
	words := n.Array() // little-endian words
	for w := 0; w < 4; w++ {
		binary.BigEndian.PutUint64(b[8*w:], words[3-w])
	}
}
