package schema

import (
	"fmt"
	"reflect"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
)

// Extension names, the Arrow canonical ones.
const (
	UUIDExtensionName = "arrow.uuid"
	JSONExtensionName = "arrow.json"
)

// Common types, ready to use in schemas.
var (
	// TimestampUTC is timestamp[us, UTC]: PostgreSQL timestamptz.
	TimestampUTC arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	// Timestamp is timestamp[us] without a zone: PostgreSQL timestamp.
	Timestamp arrow.DataType = &arrow.TimestampType{Unit: arrow.Microsecond}
	// Time is time64[us]: PostgreSQL time.
	Time arrow.DataType = arrow.FixedWidthTypes.Time64us
	// Date is date32.
	Date arrow.DataType = arrow.FixedWidthTypes.Date32
)

// MaxDecimalPrecision is the largest precision decimal128 holds.
const MaxDecimalPrecision = 38

// Decimal returns decimal128(precision, scale). It reports an error when the
// pair is out of range (1 <= precision <= 38, 0 <= scale <= precision).
func Decimal(precision, scale int32) (arrow.DataType, error) {
	if precision < 1 || precision > MaxDecimalPrecision || scale < 0 || scale > precision {
		return nil, fmt.Errorf("decimal128(%d,%d): precision must be 1..%d and scale 0..precision", precision, scale, MaxDecimalPrecision)
	}
	return &arrow.Decimal128Type{Precision: precision, Scale: scale}, nil
}

// UUIDType is the arrow.uuid extension type: a UUID stored as
// fixed_size_binary(16).
type UUIDType struct{ arrow.ExtensionBase }

// UUIDArray is an array of UUIDType; its Storage is a *array.FixedSizeBinary.
type UUIDArray struct{ array.ExtensionArrayBase }

// UUID returns the uuid extension type.
func UUID() *UUIDType {
	return &UUIDType{ExtensionBase: arrow.ExtensionBase{Storage: &arrow.FixedSizeBinaryType{ByteWidth: 16}}}
}

func (*UUIDType) ArrayType() reflect.Type { return reflect.TypeOf(UUIDArray{}) }
func (*UUIDType) ExtensionName() string   { return UUIDExtensionName }
func (*UUIDType) String() string          { return "uuid" }
func (*UUIDType) Serialize() string       { return "" }
func (*UUIDType) ExtensionEquals(o arrow.ExtensionType) bool {
	return o.ExtensionName() == UUIDExtensionName
}
func (*UUIDType) Deserialize(storage arrow.DataType, _ string) (arrow.ExtensionType, error) {
	if fsb, ok := storage.(*arrow.FixedSizeBinaryType); !ok || fsb.ByteWidth != 16 {
		return nil, fmt.Errorf("arrow.uuid: storage must be fixed_size_binary(16), got %s", storage)
	}
	return UUID(), nil
}

// JSONType is the arrow.json extension type: a JSON document (PostgreSQL
// json/jsonb) stored as its compact text in a utf8 string.
type JSONType struct{ arrow.ExtensionBase }

// JSONArray is an array of JSONType; its Storage is a *array.String.
type JSONArray struct{ array.ExtensionArrayBase }

// JSON returns the json extension type.
func JSON() *JSONType {
	return &JSONType{ExtensionBase: arrow.ExtensionBase{Storage: arrow.BinaryTypes.String}}
}

func (*JSONType) ArrayType() reflect.Type { return reflect.TypeOf(JSONArray{}) }
func (*JSONType) ExtensionName() string   { return JSONExtensionName }
func (*JSONType) String() string          { return "json" }
func (*JSONType) Serialize() string       { return "" }
func (*JSONType) ExtensionEquals(o arrow.ExtensionType) bool {
	return o.ExtensionName() == JSONExtensionName
}
func (*JSONType) Deserialize(storage arrow.DataType, _ string) (arrow.ExtensionType, error) {
	if storage.ID() != arrow.STRING {
		return nil, fmt.Errorf("arrow.json: storage must be utf8, got %s", storage)
	}
	return JSON(), nil
}

// IsUUID reports whether dt is the uuid extension type.
func IsUUID(dt arrow.DataType) bool {
	e, ok := dt.(arrow.ExtensionType)
	return ok && e.ExtensionName() == UUIDExtensionName
}

// IsJSON reports whether dt is the json extension type.
func IsJSON(dt arrow.DataType) bool {
	e, ok := dt.(arrow.ExtensionType)
	return ok && e.ExtensionName() == JSONExtensionName
}

func init() {
	// Registered so Arrow IPC round-trips keep the extension types. Another
	// package may already have registered the canonical names; that is fine.
	_ = arrow.RegisterExtensionType(UUID())
	_ = arrow.RegisterExtensionType(JSON())
}
