package compile

import (
	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines/record"
)

// schemaHeader is the connectors.SchemaHeader value for records whose
// every field has a known type (after a map or a window over typed input),
// or nil. With it, connector sinks reading the topic get the types the
// pipeline knows — a timestamp column, not text — instead of inferring
// them from JSON.
func schemaHeader(fields []record.Field) []byte {
	if len(fields) == 0 {
		return nil
	}
	afs := make([]arrow.Field, 0, len(fields))
	for _, f := range fields {
		var dt arrow.DataType
		switch f.Type {
		case record.String:
			dt = arrow.BinaryTypes.String
		case record.Int64:
			dt = arrow.PrimitiveTypes.Int64
		case record.Float64:
			dt = arrow.PrimitiveTypes.Float64
		case record.Bool:
			dt = arrow.FixedWidthTypes.Boolean
		case record.Time:
			dt = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
		default:
			return nil // a field of unknown type: let sinks infer
		}
		afs = append(afs, arrow.Field{Name: f.Name, Type: dt, Nullable: true})
	}
	b, err := schema.MarshalSchema(arrow.NewSchema(afs, nil))
	if err != nil {
		return nil
	}
	return b
}

// withSchemaHeader adds the schema header to every record of s, when the
// fields' types are all known.
func withSchemaHeader(s operators.Stream[string, Value], fields []record.Field, name string) operators.Stream[string, Value] {
	hdr := schemaHeader(fields)
	if hdr == nil {
		return s
	}
	h := operators.Header{Key: connectors.SchemaHeader, Value: hdr}
	supplier := func() operators.Processor[string, Value, string, Value] {
		return &operators.ProcessorFuncs[string, Value, string, Value]{
			ProcessFunc: func(ctx operators.ProcessorContext[string, Value], r operators.Record[string, Value]) error {
				hs := make([]operators.Header, 0, len(r.Headers)+1)
				for _, x := range r.Headers {
					if x.Key != connectors.SchemaHeader {
						hs = append(hs, x)
					}
				}
				r.Headers = append(hs, h)
				ctx.Forward(r)
				return nil
			},
		}
	}
	return operators.Process(s, supplier, nil, operators.Named(name))
}
