package pipelines

import (
	"reflect"
	"sort"
	"time"
)

// recordType is what the checker knows about the records at one point of
// a pipeline: their fields and types. A closed type lists every field (a
// declared schema, or the output of map or window); an open one (schemaless
// JSON) may have fields the checker cannot see, so unknown names are
// allowed and typed "any".
type recordType struct {
	closed bool
	fields map[string]reflect.Type // nil type: any
	order  []string
}

var (
	anyType    = reflect.TypeOf((*any)(nil)).Elem()
	stringType = reflect.TypeOf("")
	int64Type  = reflect.TypeOf(int64(0))
	floatType  = reflect.TypeOf(float64(0))
	boolType   = reflect.TypeOf(false)
	timeType   = reflect.TypeOf(time.Time{})
	mapType    = reflect.TypeOf(map[string]any{})
)

func openType() *recordType {
	return &recordType{fields: map[string]reflect.Type{}}
}

func schemaType(s *Schema) *recordType {
	t := &recordType{closed: true, fields: map[string]reflect.Type{}}
	for _, f := range s.Fields {
		t.set(f.Name, arrowGoType(f.Type))
	}
	return t
}

// arrowGoType is the Go type a value of a declared Arrow type has at run
// time (JSON values are converted to it when a record is decoded).
func arrowGoType(arrow string) reflect.Type {
	switch arrow {
	case "utf8":
		return stringType
	case "int64":
		return int64Type
	case "float64":
		return floatType
	case "bool":
		return boolType
	case "timestamp":
		return timeType
	}
	return nil
}

func (t *recordType) clone() *recordType {
	c := &recordType{closed: t.closed, fields: make(map[string]reflect.Type, len(t.fields)), order: append([]string(nil), t.order...)}
	for k, v := range t.fields {
		c.fields[k] = v
	}
	return c
}

func (t *recordType) set(name string, typ reflect.Type) {
	if typ == anyType {
		typ = nil
	}
	if _, ok := t.fields[name]; !ok {
		t.order = append(t.order, name)
	}
	t.fields[name] = typ
}

// env is the expr environment the type stands for: each field with a zero
// value of its type (nil for any).
func (t *recordType) env() map[string]any {
	env := make(map[string]any, len(t.fields))
	for name, typ := range t.fields {
		if typ == nil {
			env[name] = nil
			continue
		}
		env[name] = reflect.Zero(typ).Interface()
	}
	return env
}

func (t *recordType) names() []string {
	out := append([]string(nil), t.order...)
	sort.Strings(out)
	return out
}

func isNumeric(t reflect.Type) bool {
	if t == nil || t == anyType {
		return true // unknown: checked at run time
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Interface:
		return true
	}
	return false
}

func isOrdered(t reflect.Type) bool {
	return isNumeric(t) || t.Kind() == reflect.String || t == timeType
}

func typeName(t reflect.Type) string {
	if t == nil || t == anyType {
		return "any"
	}
	switch t.Kind() {
	case reflect.Map:
		return "map"
	case reflect.Slice, reflect.Array:
		return "list"
	}
	return t.String()
}
