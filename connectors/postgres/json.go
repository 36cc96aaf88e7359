package postgres

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// The sink reads record values with internal/jsonscan: one pass validates
// the document (RFC 8259) and records the top-level fields as slices of the
// input, with no tree of nested values. Nested objects and arrays are kept
// as raw text (jsonb takes them as they are); arrays are walked on demand
// when a column needs their elements. This is most of the sink's
// per-record CPU, so it matters: it is several times cheaper than building
// a tree.

// MaxJSONDepth bounds how deeply a record's JSON may nest; deeper documents
// are refused, so hostile input cannot exhaust the stack.
const MaxJSONDepth = 64

// jkind is the type of a JSON value.
type jkind uint8

// JSON value kinds.
const (
	kNull jkind = iota
	kTrue
	kFalse
	kNumber
	kString
	kObject
	kArray
)

// numType classifies a JSON number's literal.
type numType uint8

// Number literal classes.
const (
	nInt   numType = iota // negative integer
	nUint                 // non-negative integer
	nFloat                // has a fraction or an exponent
)

// jvalue is one JSON value: its kind and its exact text in the document.
// A parsed top-level object also has its fields.
type jvalue struct {
	raw    string
	kind   jkind
	fields []jfield
}

type jfield struct {
	key string
	val jvalue
}

// Kind is the value's JSON type.
func (v *jvalue) Kind() jkind { return v.kind }

// JSON is the value's text as it appeared in the document.
func (v *jvalue) JSON() string { return v.raw }

// NumberType classifies a number's literal.
func (v *jvalue) NumberType() numType {
	if strings.ContainsAny(v.raw, ".eE") {
		return nFloat
	}
	if strings.HasPrefix(v.raw, "-") {
		return nInt
	}
	return nUint
}

// Object calls yield with each field of a parsed object, in document order.
func (v *jvalue) Object(yield func(string, *jvalue) bool) {
	for i := range v.fields {
		if !yield(v.fields[i].key, &v.fields[i].val) {
			return
		}
	}
}

// Lookup returns the value of field k (the last one, if the key repeats, as
// PostgreSQL's jsonb keeps), or nil.
func (v *jvalue) Lookup(k string) *jvalue {
	for i := len(v.fields) - 1; i >= 0; i-- {
		if v.fields[i].key == k {
			return &v.fields[i].val
		}
	}
	return nil
}

// lookupAt is Lookup with a hint: the index the field had in the previous
// record, which is where it is again when records share a shape.
func (v *jvalue) lookupAt(k string, hint *int) *jvalue {
	if h := *hint; h >= 0 && h < len(v.fields) && v.fields[h].key == k {
		// Still must be the last occurrence.
		if h == len(v.fields)-1 || !v.hasKeyAfter(k, h) {
			return &v.fields[h].val
		}
	}
	for i := len(v.fields) - 1; i >= 0; i-- {
		if v.fields[i].key == k {
			*hint = i
			return &v.fields[i].val
		}
	}
	return nil
}

func (v *jvalue) hasKeyAfter(k string, i int) bool {
	for j := i + 1; j < len(v.fields); j++ {
		if v.fields[j].key == k {
			return true
		}
	}
	return false
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// Array calls yield with each element of an array value, in order.
func (v *jvalue) Array(yield func(*jvalue) bool) {
	if v.kind != kArray {
		return
	}
	// The document was validated when parsed, so the only error is errStop.
	_ = jsonscan.EachElement(bytesOf(v.raw), MaxJSONDepth, func(val []byte) error {
		el := jvalue{raw: stringOf(val), kind: kindOf(val[0])}
		if !yield(&el) {
			return errStop
		}
		return nil
	})
}

func kindOf(c byte) jkind {
	switch c {
	case 'n':
		return kNull
	case 't':
		return kTrue
	case 'f':
		return kFalse
	case '"':
		return kString
	case '{':
		return kObject
	case '[':
		return kArray
	}
	return kNumber
}

// parseJSON parses one JSON document. An object's top-level fields are
// recorded; nested values are validated and kept as text.
func parseJSON(b []byte) (*jvalue, error) { return parseJSONIn(b, nil) }

// arena hands out jvalues and field slices in slabs, so parsing a batch does
// not allocate per record. One arena serves one goroutine.
type arena struct {
	vals    []jvalue
	fields  []jfield
	scratch []jfield
}

func (a *arena) value() *jvalue {
	if len(a.vals) == 0 {
		a.vals = make([]jvalue, 256)
	}
	v := &a.vals[0]
	a.vals = a.vals[1:]
	return v
}

func (a *arena) keep(fs []jfield) []jfield {
	if len(fs) > len(a.fields) {
		if len(fs) > 1024 {
			return append([]jfield(nil), fs...)
		}
		a.fields = make([]jfield, 4096)
	}
	out := a.fields[:len(fs):len(fs)]
	copy(out, fs)
	a.fields = a.fields[len(fs):]
	return out
}

// jsonSpace is JSON's whitespace.
const jsonSpace = " \t\r\n"

// parseJSONIn parses with an arena (nil: plain allocations). The values
// alias b, which must not change while they are in use (a record's value
// does not, for the duration of a Write).
func parseJSONIn(b []byte, a *arena) (*jvalue, error) {
	doc := b
	if len(doc) > 0 && (doc[0] <= ' ' || doc[len(doc)-1] <= ' ') {
		doc = bytes.Trim(doc, jsonSpace)
	}
	if len(doc) == 0 {
		return nil, fmt.Errorf("invalid JSON: empty")
	}
	var v *jvalue
	if a != nil {
		v = a.value()
	} else {
		v = &jvalue{}
	}
	if doc[0] != '{' {
		if err := jsonscan.Validate(doc, MaxJSONDepth); err != nil {
			return nil, err
		}
		v.raw, v.kind = stringOf(doc), kindOf(doc[0])
		return v, nil
	}
	var fields []jfield
	if a != nil {
		fields = a.scratch[:0]
	} else {
		// Colons bound the number of fields (exactly, for flat records):
		// one allocation for them.
		fields = make([]jfield, 0, min(bytes.Count(doc, []byte{':'}), 4096))
	}
	err := jsonscan.EachMember(doc, MaxJSONDepth, func(key []byte, escaped bool, val []byte) error {
		k := stringOf(key)
		if escaped {
			var err error
			if k, err = jsonscan.Name(key, true); err != nil {
				return err
			}
		}
		fields = append(fields, jfield{key: k, val: jvalue{raw: stringOf(val), kind: kindOf(val[0])}})
		return nil
	})
	if a != nil {
		a.scratch = fields[:0]
	}
	if err != nil {
		return nil, err
	}
	if a != nil {
		fields = a.keep(fields)
	}
	v.raw, v.kind, v.fields = stringOf(doc), kObject, fields
	return v, nil
}

// parseObject parses a record value that must be a JSON object.
func parseObject(b []byte) (*jvalue, error) { return parseObjectIn(b, nil) }

// parseObjectIn is parseObject with an arena.
func parseObjectIn(b []byte, a *arena) (*jvalue, error) {
	v, err := parseJSONIn(b, a)
	if err != nil {
		return nil, err
	}
	if v.kind != kObject {
		return nil, fmt.Errorf("%w: a JSON object is needed, got %s", ErrBadValue, kindName(v.kind))
	}
	return v, nil
}

// unquote returns a string value's content. A string without escapes is
// its own bytes, uncopied and unchanged: invalid UTF-8 goes to PostgreSQL
// as it is, for the server to refuse, rather than being replaced here.
func unquote(v *jvalue) string {
	body := v.raw[1 : len(v.raw)-1]
	if strings.IndexByte(body, '\\') < 0 {
		return body
	}
	s, _ := jsonscan.Unquote(bytesOf(v.raw)) // validated when parsed
	return s
}

// stringValue makes a JSON string value holding s.
func stringValue(s string) (*jvalue, error) {
	return &jvalue{raw: string(appendJSONString(nil, s)), kind: kString}, nil
}

// stringOf views b as a string, without a copy: parsed values alias the
// record's bytes, which do not change while they are in use.
func stringOf(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// bytesOf views s as bytes for jsonscan, which only reads them.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
