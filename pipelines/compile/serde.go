package compile

import (
	"fmt"

	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines/record"
)

// Value is a pipeline record's value.
type Value = map[string]any

// valueSerde encodes records as JSON objects, decoding them with the
// fields known at that point coerced to their types.
func valueSerde(fields []record.Field) operators.Serde[Value] {
	c := record.NewCodec(fields)
	return operators.SerdeFuncs(
		func(dst []byte, v Value) ([]byte, error) {
			out, err := c.Encode(dst, v)
			if err != nil {
				return dst, fmt.Errorf("%w: %v", operators.ErrSerde, err)
			}
			return out, nil
		},
		func(b []byte) (Value, error) {
			v, err := c.Decode(b)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", operators.ErrSerde, err)
			}
			return v, nil
		})
}
