package jsonscan

import "unicode/utf8"

// EachMember calls fn with every member of the JSON object that is the
// whole of doc (whitespace around it allowed), in document order, repeated
// names included: key is the name's raw text between the quotes, escaped
// reports that it must be decoded (Name) because it holds an escape or
// invalid UTF-8, and val is the member's value as it stands in doc (a
// slice of it, validated, with no surrounding whitespace). The object may
// nest maxDepth levels, itself included. An error from fn stops the walk
// and is returned as it is.
func EachMember(doc []byte, maxDepth int, fn func(key []byte, escaped bool, val []byte) error) error {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return errAt(i, "expected an object")
	}
	if maxDepth < 1 {
		return errDepth(i, maxDepth)
	}
	end, err := walkObject(doc, i, func(key []byte, flags uint8, vs int) (int, error) {
		ve, err := skip(doc, vs, maxDepth-1)
		if err != nil {
			return ve, err
		}
		return ve, fn(key, keyEscaped(key, flags), doc[vs:ve])
	})
	if err != nil {
		return err
	}
	if end = skipSpace(doc, end); end != len(doc) {
		return errAt(end, "data after the object")
	}
	return nil
}

// EachElement calls fn with every element of the JSON array that is the
// whole of doc, in order, each a validated slice of doc. The array may nest
// maxDepth levels, itself included.
func EachElement(doc []byte, maxDepth int, fn func(val []byte) error) error {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '[' {
		return errAt(i, "expected an array")
	}
	if maxDepth < 1 {
		return errDepth(i, maxDepth)
	}
	end, err := walkArray(doc, i, func(vs int) (int, error) {
		ve, err := skip(doc, vs, maxDepth-1)
		if err != nil {
			return ve, err
		}
		return ve, fn(doc[vs:ve])
	})
	if err != nil {
		return err
	}
	if end = skipSpace(doc, end); end != len(doc) {
		return errAt(end, "data after the array")
	}
	return nil
}

// Name returns an object member's name from the raw key EachMember gave.
func Name(key []byte, escaped bool) (string, error) {
	if !escaped {
		return string(key), nil
	}
	b, err := appendUnquoted(make([]byte, 0, len(key)), key)
	return string(b), err
}

func keyEscaped(key []byte, flags uint8) bool {
	return flags&flagEscape != 0 || flags&flagNonASCII != 0 && !utf8.Valid(key)
}

// walkObject is the one object grammar of this package: it walks the
// object at b[i] ('{') and, for each member, calls value with the raw key
// (between the quotes), its string flags and the index of the value (after
// whitespace); value validates or decodes the value and returns the index
// past it. walkObject returns the index past the closing brace.
func walkObject(b []byte, i int, value func(key []byte, flags uint8, vs int) (int, error)) (int, error) {
	n := len(b)
	i = skipSpace(b, i+1)
	if i < n && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= n || b[i] != '"' {
			return i, errAt(i, "expected a member name")
		}
		kend, flags := scanStr(b, i)
		if flags >= badString {
			return kend, scanErr(i, kend, flags)
		}
		key := b[i+1 : kend-1]
		i = kend
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i >= n || b[i] != ':' {
			return i, errAt(i, "expected ':' after a member name")
		}
		i++
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		var err error
		if i, err = value(key, flags, i); err != nil {
			return i, err
		}
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i >= n {
			return i, errAt(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return i + 1, nil
		default:
			return i, errAt(i, "expected ',' or '}'")
		}
	}
}

// walkArray walks the array at b[i] ('['), calling value with the index of
// each element (after whitespace); value returns the index past it.
func walkArray(b []byte, i int, value func(vs int) (int, error)) (int, error) {
	n := len(b)
	i = skipSpace(b, i+1)
	if i < n && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = value(i); err != nil {
			return i, err
		}
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i >= n {
			return i, errAt(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case ']':
			return i + 1, nil
		default:
			return i, errAt(i, "expected ',' or ']'")
		}
	}
}
