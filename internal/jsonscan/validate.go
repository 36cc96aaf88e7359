package jsonscan

// Valid reports whether b holds exactly one JSON value, whitespace around
// it allowed: what encoding/json.Valid reports, several times faster, and
// with no allocation for values nested up to 64 deep.
func Valid(b []byte) bool {
	i, err := skip(b, 0, MaxDepth)
	return err == nil && skipSpace(b, i) == len(b)
}

// Validate is Valid with an error that says what is wrong and where, and
// with a nesting limit (MaxDepth is encoding/json's).
func Validate(b []byte, maxDepth int) error {
	i, err := skip(b, 0, maxDepth)
	if err != nil {
		return err
	}
	if i = skipSpace(b, i); i != len(b) {
		return errAt(i, "data after the value")
	}
	return nil
}

// Skip validates the JSON value starting at b[i] (after optional
// whitespace) and returns where it starts and the index just past it,
// allowing maxDepth levels of nesting.
func Skip(b []byte, i, maxDepth int) (start, end int, err error) {
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	end, err = skip(b, i, maxDepth)
	return i, end, err
}

// skip validates the value at b[i] (after optional whitespace) and returns
// the index past it. Scalars, most of any record, are scanned here
// directly; containers by skipNested.
func skip(b []byte, i, maxDepth int) (end int, err error) {
	if i < len(b) && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= len(b) {
		return i, errAt(i, "unexpected end of input")
	}
	switch b[i] {
	case '"':
		end, _, err = scanString(b, i)
		return end, err
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		end, _, err = scanNumber(b, i)
		return end, err
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	case 'n':
		return literal(b, i, "null")
	}
	return skipNested(b, i, maxDepth)
}

// skipNested is skip for any value, containers included. It walks nested
// values with an explicit stack rather than recursion, so depth costs a
// byte, not a stack frame.
func skipNested(b []byte, i, maxDepth int) (int, error) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // open containers: '{' or '['
	n := len(b)
	var err error

value:
	if i < n && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= n {
		return i, errAt(i, "unexpected end of input")
	}
	switch b[i] {
	case '{':
		if len(stack) >= maxDepth {
			return i, errDepth(i, maxDepth)
		}
		stack = append(stack, '{')
		i++
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i < n && b[i] == '}' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto key
	case '[':
		if len(stack) >= maxDepth {
			return i, errDepth(i, maxDepth)
		}
		stack = append(stack, '[')
		i++
		if i < n && b[i] <= ' ' {
			i = skipSpace(b, i)
		}
		if i < n && b[i] == ']' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto value
	case '"':
		if i, _, err = scanString(b, i); err != nil {
			return i, err
		}
	case 't':
		if i, err = literal(b, i, "true"); err != nil {
			return i, err
		}
	case 'f':
		if i, err = literal(b, i, "false"); err != nil {
			return i, err
		}
	case 'n':
		if i, err = literal(b, i, "null"); err != nil {
			return i, err
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if i, _, err = scanNumber(b, i); err != nil {
			return i, err
		}
	default:
		return i, errUnexpected(b, i)
	}

after:
	if len(stack) == 0 {
		return i, nil
	}
	if i < n && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= n {
		return i, errAt(i, "unexpected end of input")
	}
	switch top := stack[len(stack)-1]; b[i] {
	case ',':
		i++
		if top == '{' {
			if i < n && b[i] <= ' ' {
				i = skipSpace(b, i)
			}
			goto key
		}
		goto value
	case '}':
		if top != '{' {
			return i, errAt(i, "expected ',' or ']'")
		}
	case ']':
		if top != '[' {
			return i, errAt(i, "expected ',' or '}'")
		}
	default:
		if top == '{' {
			return i, errAt(i, "expected ',' or '}'")
		}
		return i, errAt(i, "expected ',' or ']'")
	}
	stack = stack[:len(stack)-1]
	i++
	goto after

key: // at a member name (whitespace skipped)
	if i >= n || b[i] != '"' {
		return i, errAt(i, "expected a member name")
	}
	if i, _, err = scanString(b, i); err != nil {
		return i, err
	}
	if i < n && b[i] <= ' ' {
		i = skipSpace(b, i)
	}
	if i >= n || b[i] != ':' {
		return i, errAt(i, "expected ':' after a member name")
	}
	i++
	goto value
}
