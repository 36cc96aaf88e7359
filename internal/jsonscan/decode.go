package jsonscan

import "unicode/utf8"

// Decoder decodes JSON into the values encoding/json gives an `any`:
// map[string]any, []any, string, float64, bool and nil, with the same
// strings (escapes decoded, invalid UTF-8 replaced) and the same float64s.
// It validates as it goes, in one pass. The zero Decoder is ready to use;
// one Decoder serves one goroutine.
type Decoder struct {
	// MaxDepth bounds nesting; 0 means MaxDepth, encoding/json's limit.
	MaxDepth int
	// Names, when set, holds member names to reuse: a name found there
	// costs no allocation. It is only read.
	Names map[string]string

	buf   []byte // scratch for strings with escapes
	limit int    // the MaxDepth in force, for errors
}

// DecodeObject decodes data, which must be one JSON object (whitespace
// around it allowed).
func (d *Decoder) DecodeObject(data []byte) (map[string]any, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errAt(i, "expected an object")
	}
	v, err := d.decode(data, i)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

// Decode decodes data, which must be one JSON value (whitespace around it
// allowed).
func (d *Decoder) Decode(data []byte) (any, error) {
	return d.decode(data, skipSpace(data, 0))
}

func (d *Decoder) decode(data []byte, i int) (any, error) {
	d.limit = d.MaxDepth
	if d.limit <= 0 {
		d.limit = MaxDepth
	}
	v, end, err := d.value(data, i, d.limit)
	if err != nil {
		return nil, err
	}
	if end = skipSpace(data, end); end != len(data) {
		return nil, errAt(end, "data after the value")
	}
	return v, nil
}

// value decodes the value at b[i]; depth is how many more levels may open.
func (d *Decoder) value(b []byte, i, depth int) (any, int, error) {
	if i >= len(b) {
		return nil, i, errAt(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		end, flags, err := scanString(b, i)
		if err != nil {
			return nil, end, err
		}
		s, err := d.str(b[i+1:end-1], flags)
		return s, end, err
	case c == '{':
		if depth <= 0 {
			return nil, i, errDepth(i, d.limit)
		}
		m := make(map[string]any, 8)
		end, err := walkObject(b, i, func(key []byte, flags uint8, vs int) (int, error) {
			k, err := d.name(key, flags)
			if err != nil {
				return vs, err
			}
			v, ve, err := d.value(b, vs, depth-1)
			if err != nil {
				return ve, err
			}
			m[k] = v
			return ve, nil
		})
		if err != nil {
			return nil, end, err
		}
		return m, end, nil
	case c == '[':
		if depth <= 0 {
			return nil, i, errDepth(i, d.limit)
		}
		out := []any{}
		end, err := walkArray(b, i, func(vs int) (int, error) {
			v, ve, err := d.value(b, vs, depth-1)
			if err != nil {
				return ve, err
			}
			out = append(out, v)
			return ve, nil
		})
		if err != nil {
			return nil, end, err
		}
		return out, end, nil
	case c == 't':
		end, err := literalAt(b, i, "true")
		return true, end, err
	case c == 'f':
		end, err := literalAt(b, i, "false")
		return false, end, err
	case c == 'n':
		end, err := literalAt(b, i, "null")
		return nil, end, err
	case c == '-' || c >= '0' && c <= '9':
		end, isInt, err := scanNumber(b, i)
		if err != nil {
			return nil, end, err
		}
		f, ok := parseFloat(b[i:end], isInt)
		if !ok {
			return nil, end, errRange(i, b[i:end])
		}
		return f, end, nil
	}
	return nil, i, errUnexpected(b, i)
}

// name returns a member name, from Names when it is there.
func (d *Decoder) name(key []byte, flags uint8) (string, error) {
	if d.Names != nil && flags == 0 {
		if s, ok := d.Names[string(key)]; ok {
			return s, nil
		}
	}
	return d.str(key, flags)
}

// str returns a validated string body's value.
func (d *Decoder) str(body []byte, flags uint8) (string, error) {
	if flags == 0 || flags == flagNonASCII && utf8.Valid(body) {
		return string(body), nil
	}
	var err error
	d.buf, err = appendUnquoted(d.buf[:0], body)
	return string(d.buf), err
}
