package postgres

import (
	"fmt"
	"regexp"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/connectors/schema"
)

// PGTypeMetadataKey is the Arrow field metadata key that carries a column's
// PostgreSQL type name (for example "numeric", "interval", "inet") when the
// Arrow type alone does not say it. The source sets it; the sink uses it when
// it creates a column, so a PostgreSQL-to-PostgreSQL pipeline keeps types.
const PGTypeMetadataKey = "pg.type"

// pgTypeNameRE accepts the type names the sink is willing to put into DDL
// from record metadata: plain names, an optional (p) or (p,s) modifier and
// array brackets. Anything else is ignored, never interpolated.
var pgTypeNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*( [a-z][a-z0-9_]*){0,3}(\(\d{1,4}(,\s?\d{1,4})?\))?(\[\])*$`)

// typeInfo describes a PostgreSQL type as the catalog knows it.
type typeInfo struct {
	OID      uint32
	Name     string // format_type(oid, typmod): "numeric(12,2)", "integer[]"
	Category byte   // pg_type.typcategory: 'A' array, 'S' string, 'N' numeric, ...
	Elem     uint32 // element type of an array, else 0
	ElemName string // element type's name for arrays
	ElemCat  byte
	Typmod   int32
}

// arrowForPG maps a PostgreSQL type to the Arrow type its values are
// described with. Types without an exact Arrow counterpart (unconstrained or
// very wide numeric, interval, network addresses, enums, ranges, ...) become
// strings carrying their PostgreSQL text form, with the type name in the
// field's PGTypeMetadataKey metadata.
func arrowForPG(oid uint32, typmod int32, elem uint32) (dt arrow.DataType, exact bool) {
	switch oid {
	case pgtype.BoolOID:
		return arrow.FixedWidthTypes.Boolean, true
	case pgtype.Int2OID:
		return arrow.PrimitiveTypes.Int16, true
	case pgtype.Int4OID:
		return arrow.PrimitiveTypes.Int32, true
	case pgtype.Int8OID:
		return arrow.PrimitiveTypes.Int64, true
	case pgtype.OIDOID:
		return arrow.PrimitiveTypes.Uint32, true
	case pgtype.Float4OID:
		return arrow.PrimitiveTypes.Float32, true
	case pgtype.Float8OID:
		return arrow.PrimitiveTypes.Float64, true
	case pgtype.NumericOID:
		if typmod >= 4 {
			p := int32(((typmod - 4) >> 16) & 0xffff)
			s := int32((typmod - 4) & 0x7ff)
			if dt, err := schema.Decimal(p, s); err == nil {
				return dt, true
			}
		}
		return arrow.BinaryTypes.String, false
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return arrow.BinaryTypes.String, true
	case pgtype.ByteaOID:
		return arrow.BinaryTypes.Binary, true
	case pgtype.DateOID:
		return schema.Date, true
	case pgtype.TimeOID:
		return schema.Time, true
	case pgtype.TimestampOID:
		return schema.Timestamp, true
	case pgtype.TimestamptzOID:
		return schema.TimestampUTC, true
	case pgtype.UUIDOID:
		return schema.UUID(), true
	case pgtype.JSONOID, pgtype.JSONBOID:
		return schema.JSON(), true
	}
	if elem != 0 {
		et, ok := arrowForPG(elem, -1, 0)
		if elem == pgtype.NumericOID {
			// An array's typmod applies to its elements.
			et, ok = arrowForPG(elem, typmod, 0)
		}
		return arrow.ListOf(et), ok
	}
	return arrow.BinaryTypes.String, false
}

// arrowField builds the Arrow field for a PostgreSQL column.
func arrowField(name string, t typeInfo, nullable bool) arrow.Field {
	dt, exact := arrowForPG(t.OID, t.Typmod, t.Elem)
	f := arrow.Field{Name: name, Type: dt, Nullable: nullable}
	if !exact {
		f.Metadata = arrow.NewMetadata([]string{PGTypeMetadataKey}, []string{t.Name})
	}
	return f
}

// pgForArrow returns the PostgreSQL column type for an Arrow field, for
// CREATE TABLE and ALTER TABLE ADD COLUMN.
func pgForArrow(f arrow.Field) (string, error) {
	if name, ok := f.Metadata.GetValue(PGTypeMetadataKey); ok && pgTypeNameRE.MatchString(name) {
		return name, nil
	}
	return pgForArrowType(f.Type)
}

func pgForArrowType(dt arrow.DataType) (string, error) {
	if schema.IsUUID(dt) {
		return "uuid", nil
	}
	if schema.IsJSON(dt) {
		return "jsonb", nil
	}
	switch t := dt.(type) {
	case *arrow.BooleanType:
		return "boolean", nil
	case *arrow.Int8Type, *arrow.Int16Type, *arrow.Uint8Type:
		return "smallint", nil
	case *arrow.Int32Type, *arrow.Uint16Type:
		return "integer", nil
	case *arrow.Int64Type, *arrow.Uint32Type:
		return "bigint", nil
	case *arrow.Uint64Type:
		return "numeric(20,0)", nil
	case *arrow.Float16Type, *arrow.Float32Type:
		return "real", nil
	case *arrow.Float64Type:
		return "double precision", nil
	case *arrow.Decimal128Type:
		return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale), nil
	case *arrow.Decimal256Type:
		if t.Precision > 1000 {
			return "numeric", nil
		}
		return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale), nil
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return "text", nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return "bytea", nil
	case *arrow.Date32Type, *arrow.Date64Type:
		return "date", nil
	case *arrow.Time32Type, *arrow.Time64Type:
		return "time", nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return "timestamptz", nil
		}
		return "timestamp", nil
	case *arrow.DurationType, *arrow.MonthDayNanoIntervalType, *arrow.MonthIntervalType, *arrow.DayTimeIntervalType:
		return "interval", nil
	case *arrow.ListType:
		return arrayOf(t.Elem())
	case *arrow.LargeListType:
		return arrayOf(t.Elem())
	case *arrow.FixedSizeListType:
		return arrayOf(t.Elem())
	case *arrow.StructType, *arrow.MapType:
		return "jsonb", nil
	case *arrow.NullType:
		return "text", nil
	}
	return "", fmt.Errorf("no PostgreSQL type for Arrow type %s", dt)
}

// arrayOf maps list<elem> to elem[]. PostgreSQL arrays of arrays must be
// rectangular and of one element type, which JSON does not promise, so
// nested lists and lists of structs become jsonb.
func arrayOf(elem arrow.DataType) (string, error) {
	switch elem.(type) {
	case *arrow.ListType, *arrow.LargeListType, *arrow.FixedSizeListType, *arrow.StructType, *arrow.MapType:
		return "jsonb", nil
	}
	if schema.IsJSON(elem) {
		return "jsonb", nil
	}
	et, err := pgForArrowType(elem)
	if err != nil {
		return "", err
	}
	return et + "[]", nil
}
