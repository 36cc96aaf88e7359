package operators

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Serde turns values of type T into bytes and back. Serialize appends to dst
// so a caller can reuse one buffer for every record instead of allocating.
//
// Deserialize receives bytes from the network or from disk and must return an
// error, never panic, on bad input. It must not retain data: the slice may
// be reused after it returns.
//
// Plug in your own format (Avro, Protobuf, ...) by implementing Serde or with
// SerdeFuncs.
type Serde[T any] interface {
	Serialize(dst []byte, v T) ([]byte, error)
	Deserialize(data []byte) (T, error)
}

// ErrSerde wraps every error raised by the built-in serdes, so callers can
// tell bad data from other failures with errors.Is.
var ErrSerde = errors.New("serde")

// SerdeFuncs makes a Serde from two functions.
func SerdeFuncs[T any](ser func(dst []byte, v T) ([]byte, error), de func([]byte) (T, error)) Serde[T] {
	return funcSerde[T]{ser: ser, de: de}
}

type funcSerde[T any] struct {
	ser func([]byte, T) ([]byte, error)
	de  func([]byte) (T, error)
}

func (s funcSerde[T]) Serialize(dst []byte, v T) ([]byte, error) { return s.ser(dst, v) }
func (s funcSerde[T]) Deserialize(b []byte) (T, error)           { return s.de(b) }

// Built-in serdes. Int64 and Float64 use 8-byte big-endian encodings, the
// same bytes as Kafka's LongSerializer and DoubleSerializer, so topics are
// readable by Java clients.
var (
	Bytes   Serde[[]byte]  = bytesSerde{}
	String  Serde[string]  = stringSerde{}
	Int64   Serde[int64]   = int64Serde{}
	Float64 Serde[float64] = float64Serde{}
)

type bytesSerde struct{}

func (bytesSerde) Serialize(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (bytesSerde) Deserialize(b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	out := make([]byte, len(b))
	copy(out, b)
	return out, nil
}

type stringSerde struct{}

func (stringSerde) Serialize(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (stringSerde) Deserialize(b []byte) (string, error)           { return string(b), nil }

type int64Serde struct{}

func (int64Serde) Serialize(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}

func (int64Serde) Deserialize(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: int64 needs 8 bytes, got %d", ErrSerde, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

type float64Serde struct{}

func (float64Serde) Serialize(dst []byte, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
}

func (float64Serde) Deserialize(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: float64 needs 8 bytes, got %d", ErrSerde, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

// JSON encodes values with encoding/json.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Serialize(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("%w: json encode %T: %v", ErrSerde, v, err)
	}
	return append(dst, b...), nil
}

func (jsonSerde[T]) Deserialize(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: json decode %T: %v", ErrSerde, v, err)
	}
	return v, nil
}
