package pipelines

import (
	"reflect"

	"github.com/sluicehq/sluice/pipelines/record"
)

// SourceFields is what is known about a source's records: its declared
// schema's fields, or nothing (schemaless JSON). Valid after Check.
func (p *Pipeline) SourceFields(name string) []record.Field {
	return p.srcTypes[name].recordFields()
}

// StepFields is what is known about the records a step emits: after a
// map or a window, every field and its type. Valid after Check.
func (p *Pipeline) StepFields(s Step) []record.Field {
	return p.stepTypes[s].recordFields()
}

func (t *recordType) recordFields() []record.Field {
	if t == nil {
		return nil
	}
	out := make([]record.Field, 0, len(t.order))
	for _, name := range t.order {
		out = append(out, record.Field{Name: name, Type: recordTypeOf(t.fields[name])})
	}
	return out
}

func recordTypeOf(t reflect.Type) record.Type {
	switch t {
	case stringType:
		return record.String
	case int64Type:
		return record.Int64
	case floatType:
		return record.Float64
	case boolType:
		return record.Bool
	case timeType:
		return record.Time
	}
	if t != nil {
		switch t.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int16, reflect.Int8:
			return record.Int64
		case reflect.Float32:
			return record.Float64
		}
	}
	return record.Any
}
