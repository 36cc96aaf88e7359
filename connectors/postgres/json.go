package postgres

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// The sink reads record values with its own small JSON scanner: one pass
// validates the document (RFC 8259) and records the top-level fields as
// slices of the input, with no tree of nested values. Nested objects and
// arrays are kept as raw text (jsonb takes them as they are); arrays are
// walked on demand when a column needs their elements. This is most of the
// sink's per-record CPU, so it matters: it is several times cheaper than
// building a tree.

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

// Array calls yield with each element of an array value. The document was
// validated when parsed, so this only finds the elements' extents.
func (v *jvalue) Array(yield func(*jvalue) bool) {
	if v.kind != kArray {
		return
	}
	s := v.raw[1 : len(v.raw)-1]
	i := skipSpace(s, 0)
	for i < len(s) {
		end := skipValue(s, i)
		el := jvalue{raw: s[i:end], kind: kindOf(s[i])}
		if !yield(&el) {
			return
		}
		i = skipSpace(s, end)
		if i < len(s) && s[i] == ',' {
			i = skipSpace(s, i+1)
		}
	}
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

// parseJSONIn parses with an arena (nil: plain allocations). The values
// alias b, which must not change while they are in use (a record's value
// does not, for the duration of a Write).
func parseJSONIn(b []byte, a *arena) (*jvalue, error) {
	p := parser{s: unsafe.String(unsafe.SliceData(b), len(b))}
	i := skipSpace(p.s, 0)
	if i >= len(p.s) {
		return nil, fmt.Errorf("invalid JSON: empty")
	}
	var v *jvalue
	if a != nil {
		v = a.value()
	} else {
		v = &jvalue{}
	}
	var end int
	var err error
	if p.s[i] == '{' {
		var fields []jfield
		if a != nil {
			fields = a.scratch[:0]
		} else {
			// Colons bound the number of fields (exactly, for flat
			// records): one allocation for them.
			fields = make([]jfield, 0, min(strings.Count(p.s, ":"), 4096))
		}
		end, err = p.object(i, 1, v, &fields)
		if a != nil {
			a.scratch = fields[:0]
			v.fields = a.keep(fields)
		} else {
			v.fields = fields
		}
	} else {
		end, err = p.value(i, 0)
		if err == nil {
			v.raw, v.kind = p.s[i:end], kindOf(p.s[i])
		}
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if end = skipSpace(p.s, end); end != len(p.s) {
		return nil, fmt.Errorf("invalid JSON: unexpected %q after the value at byte %d", p.s[end], end)
	}
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

type parser struct{ s string }

func skipSpace(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// object parses the object at s[i] ('{'). With into, it records the fields.
func (p *parser) object(i, depth int, into *jvalue, fields *[]jfield) (int, error) {
	if depth > MaxJSONDepth {
		return 0, fmt.Errorf("nested deeper than %d levels at byte %d", MaxJSONDepth, i)
	}
	start := i
	i = skipSpace(p.s, i+1)
	if i < len(p.s) && p.s[i] == '}' {
		if into != nil {
			into.raw, into.kind = p.s[start:i+1], kObject
		}
		return i + 1, nil
	}
	for {
		if i >= len(p.s) || p.s[i] != '"' {
			return 0, fmt.Errorf("expected a field name at byte %d", i)
		}
		kend, err := p.str(i)
		if err != nil {
			return 0, err
		}
		key := p.s[i:kend]
		i = skipSpace(p.s, kend)
		if i >= len(p.s) || p.s[i] != ':' {
			return 0, fmt.Errorf("expected ':' after field %s at byte %d", key, i)
		}
		i = skipSpace(p.s, i+1)
		vstart := i
		if i, err = p.value(i, depth); err != nil {
			return 0, err
		}
		if into != nil {
			k, err := unquoteJSON(key)
			if err != nil {
				return 0, fmt.Errorf("field name %s: %w", key, err)
			}
			*fields = append(*fields, jfield{key: k, val: jvalue{raw: p.s[vstart:i], kind: kindOf(p.s[vstart])}})
		}
		i = skipSpace(p.s, i)
		if i >= len(p.s) {
			return 0, fmt.Errorf("unterminated object at byte %d", start)
		}
		switch p.s[i] {
		case ',':
			i = skipSpace(p.s, i+1)
		case '}':
			if into != nil {
				into.raw, into.kind = p.s[start:i+1], kObject
			}
			return i + 1, nil
		default:
			return 0, fmt.Errorf("expected ',' or '}' at byte %d, got %q", i, p.s[i])
		}
	}
}

func (p *parser) array(i, depth int) (int, error) {
	if depth > MaxJSONDepth {
		return 0, fmt.Errorf("nested deeper than %d levels at byte %d", MaxJSONDepth, i)
	}
	start := i
	i = skipSpace(p.s, i+1)
	if i < len(p.s) && p.s[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = p.value(i, depth); err != nil {
			return 0, err
		}
		i = skipSpace(p.s, i)
		if i >= len(p.s) {
			return 0, fmt.Errorf("unterminated array at byte %d", start)
		}
		switch p.s[i] {
		case ',':
			i = skipSpace(p.s, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("expected ',' or ']' at byte %d, got %q", i, p.s[i])
		}
	}
}

// value validates the value at s[i] and returns where it ends.
func (p *parser) value(i, depth int) (int, error) {
	if i >= len(p.s) {
		return 0, fmt.Errorf("unexpected end at byte %d", i)
	}
	switch c := p.s[i]; {
	case c == '{':
		return p.object(i, depth+1, nil, nil)
	case c == '[':
		return p.array(i, depth+1)
	case c == '"':
		return p.str(i)
	case c == 't':
		return p.literal(i, "true")
	case c == 'f':
		return p.literal(i, "false")
	case c == 'n':
		return p.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return p.number(i)
	}
	return 0, fmt.Errorf("unexpected %q at byte %d", p.s[i], i)
}

func (p *parser) literal(i int, lit string) (int, error) {
	if !strings.HasPrefix(p.s[i:], lit) {
		return 0, fmt.Errorf("invalid literal at byte %d", i)
	}
	return i + len(lit), nil
}

func (p *parser) number(i int) (int, error) {
	start := i
	s := p.s
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return 0, fmt.Errorf("invalid number at byte %d", start)
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0, fmt.Errorf("invalid number at byte %d", start)
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return 0, fmt.Errorf("invalid number at byte %d", start)
		}
	}
	return i, nil
}

// str validates the string at s[i] ('"') and returns where it ends.
func (p *parser) str(i int) (int, error) {
	start := i
	s := p.s
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return 0, fmt.Errorf("unterminated string at byte %d", start)
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) || !isHex4(s[i+2:i+6]) {
					return 0, fmt.Errorf("bad \\u escape at byte %d", i)
				}
				i += 6
			default:
				return 0, fmt.Errorf("bad escape at byte %d", i)
			}
		case c < 0x20:
			return 0, fmt.Errorf("control character in string at byte %d", i)
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unterminated string at byte %d", start)
}

func isHex4(s string) bool {
	for i := 0; i < 4; i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return true
}

// skipValue returns the end of the (valid) value at s[i].
func skipValue(s string, i int) int {
	switch s[i] {
	case '"':
		i++
		for i < len(s) {
			switch s[i] {
			case '\\':
				i += 2
				continue
			case '"':
				return i + 1
			}
			i++
		}
		return i
	case '{', '[':
		depth := 0
		for i < len(s) {
			switch s[i] {
			case '"':
				i = skipValue(s, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(s) {
		switch s[i] {
		case ',', ']', '}', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// unquote returns a string value's content.
func unquote(v *jvalue) string {
	s, _ := unquoteJSON(v.raw)
	return s
}

// unquoteJSON decodes a valid JSON string literal. Unpaired surrogates
// become U+FFFD, as encoding/json does.
func unquoteJSON(q string) (string, error) {
	if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
		return "", fmt.Errorf("not a JSON string")
	}
	s := q[1 : len(q)-1]
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", fmt.Errorf("bad escape")
		}
		switch s[i+1] {
		case '"', '\\', '/':
			b = append(b, s[i+1])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", fmt.Errorf("bad \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
			continue
		default:
			return "", fmt.Errorf("bad escape")
		}
		i += 2
	}
	return string(b), nil
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		h, ok := unhex(s[j])
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	return r, true
}

// stringValue makes a JSON string value holding s.
func stringValue(s string) (*jvalue, error) {
	return &jvalue{raw: string(appendJSONString(nil, s)), kind: kString}, nil
}
