package postgres

import (
	"strconv"
)

// jtype is the column type inferred from schemaless JSON values. Inference
// is deliberately conservative: when values of one field disagree (a number
// here, a string there) the column becomes jsonb, which stores every JSON
// value losslessly, rather than a type some later record cannot enter.
type jtype uint8

const (
	jNone    jtype = iota // only nulls seen: no column yet
	jBool                 // boolean
	jInt                  // bigint
	jNumeric              // numeric: integers beyond int64
	jFloat                // double precision
	jString               // text
	jJSON                 // jsonb: objects, mixed types, nested arrays
	jArrNone              // an array with no non-null element yet
	jArrBool
	jArrInt
	jArrNumeric
	jArrFloat
	jArrString
)

func (t jtype) isArray() bool { return t >= jArrNone }

func (t jtype) elem() jtype {
	if !t.isArray() {
		return t
	}
	return t - jArrNone
}

func arrayOfJ(elem jtype) jtype {
	if elem > jString { // objects or nested arrays inside arrays
		return jJSON
	}
	return elem + jArrNone
}

// pgType is the column type to create. ok is false when nothing but nulls
// was seen, so no column should be made yet.
func (t jtype) pgType() (name string, ok bool) {
	switch t {
	case jBool:
		return "boolean", true
	case jInt:
		return "bigint", true
	case jNumeric:
		return "numeric", true
	case jFloat:
		return "double precision", true
	case jString:
		return "text", true
	case jJSON, jArrNone:
		return "jsonb", true
	case jArrBool:
		return "boolean[]", true
	case jArrInt:
		return "bigint[]", true
	case jArrNumeric:
		return "numeric[]", true
	case jArrFloat:
		return "double precision[]", true
	case jArrString:
		return "text[]", true
	}
	return "", false
}

// inferJSON returns the type of one JSON value.
func inferJSON(v *jvalue) jtype {
	if v == nil {
		return jNone
	}
	switch v.Kind() {
	case kNull:
		return jNone
	case kTrue, kFalse:
		return jBool
	case kNumber:
		if v.NumberType() == nFloat {
			return jFloat
		}
		if _, err := strconv.ParseInt(v.JSON(), 10, 64); err != nil {
			return jNumeric // beyond int64
		}
		return jInt
	case kString:
		return jString
	case kArray:
		elem := jNone
		v.Array(func(el *jvalue) bool {
			et := jJSON
			if k := el.Kind(); k != kArray && k != kObject {
				et = inferJSON(el)
			}
			elem = mergeJ(elem, et)
			return elem != jJSON
		})
		return arrayOfJ(elem)
	}
	return jJSON
}

// mergeJ combines the types of two values of one field.
func mergeJ(a, b jtype) jtype {
	switch {
	case a == b:
		return a
	case a == jNone:
		return b
	case b == jNone:
		return a
	case a.isArray() && b.isArray():
		return arrayOfJ(mergeJ(a.elem(), b.elem()))
	case a.isArray() || b.isArray():
		return jJSON
	}
	if a > b {
		a, b = b, a
	}
	switch {
	case a == jInt && (b == jNumeric || b == jFloat):
		return b
	case a == jNumeric && b == jFloat:
		return jNumeric
	}
	return jJSON
}
