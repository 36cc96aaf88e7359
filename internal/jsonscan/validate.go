package jsonscan

// Valid reports whether b holds exactly one JSON value, whitespace around
// it allowed: what encoding/json.Valid reports, several times faster, and
// with no allocation for values nested up to 64 deep.
func Valid(b []byte) bool {
	return Validate(b, MaxDepth) == nil
}

// Validate is Valid with an error that says what is wrong and where, and
// with a nesting limit (MaxDepth is encoding/json's).
func Validate(b []byte, maxDepth int) error {
	i, _, err := skipNested(b, 0, maxDepth)
	if err != nil {
		return err
	}
	if i = skipSpace(b, i); i != len(b) {
		return errAt(i, "data after the value")
	}
	return nil
}

// ValidateCompact is Validate that also reports whether the value is
// compact: no whitespace between its tokens or around it, as json.Compact
// writes it, so a caller that must write it compact can keep it as it is.
func ValidateCompact(b []byte, maxDepth int) (compact bool, err error) {
	if len(b) == 0 || b[0] <= ' ' || b[len(b)-1] <= ' ' {
		return false, Validate(b, maxDepth)
	}
	end, spaced, err := skipNested(b, 0, maxDepth)
	if err != nil {
		return false, err
	}
	if end != len(b) {
		return false, errAt(end, "data after the value")
	}
	return !spaced, nil
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
	var bad uint8
	switch b[i] {
	case '"':
		if end, bad = scanStr(b, i); bad >= badString {
			return end, scanErr(i, end, bad)
		}
		return end, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if end, bad = scanNum(b, i); bad == badNumber {
			return end, scanErr(i, end, bad)
		}
		return end, nil
	case 't':
		return literalAt(b, i, "true")
	case 'f':
		return literalAt(b, i, "false")
	case 'n':
		return literalAt(b, i, "null")
	}
	end, _, err = skipNested(b, i, maxDepth)
	return end, err
}

// skipNested is skip for any value, containers included. It walks nested
// values with an explicit stack rather than recursion, so depth costs a
// byte, not a stack frame.
func skipNested(b []byte, i, maxDepth int) (end int, spaced bool, err error) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // open containers: '{' or '['
	n := len(b)
	var bad uint8

value:
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n {
		return i, spaced, errAt(i, "unexpected end of input")
	}
	switch b[i] {
	case '{':
		if len(stack) >= maxDepth {
			return i, spaced, errDepth(i, maxDepth)
		}
		stack = append(stack, '{')
		i++
		if i < n && b[i] <= ' ' {
			i, spaced = skipSpace(b, i), true
		}
		if i < n && b[i] == '}' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto key
	case '[':
		if len(stack) >= maxDepth {
			return i, spaced, errDepth(i, maxDepth)
		}
		stack = append(stack, '[')
		i++
		if i < n && b[i] <= ' ' {
			i, spaced = skipSpace(b, i), true
		}
		if i < n && b[i] == ']' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto value
	case '"':
		start := i
		if i, bad = scanStr(b, i); bad >= badString {
			return i, spaced, scanErr(start, i, bad)
		}
	case 't':
		if j := literal(b, i, "true"); j >= 0 {
			i = j
		} else {
			return i, spaced, errAt(i, "invalid literal")
		}
	case 'f':
		if j := literal(b, i, "false"); j >= 0 {
			i = j
		} else {
			return i, spaced, errAt(i, "invalid literal")
		}
	case 'n':
		if j := literal(b, i, "null"); j >= 0 {
			i = j
		} else {
			return i, spaced, errAt(i, "invalid literal")
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		start := i
		if i, bad = scanNum(b, i); bad == badNumber {
			return i, spaced, scanErr(start, i, bad)
		}
	default:
		return i, spaced, errUnexpected(b, i)
	}

after:
	if len(stack) == 0 {
		return i, spaced, nil
	}
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n {
		return i, spaced, errAt(i, "unexpected end of input")
	}
	switch top := stack[len(stack)-1]; b[i] {
	case ',':
		i++
		if top == '{' {
			if i < n && b[i] <= ' ' {
				i, spaced = skipSpace(b, i), true
			}
			goto key
		}
		goto value
	case '}':
		if top != '{' {
			return i, spaced, errAt(i, "expected ',' or ']'")
		}
	case ']':
		if top != '[' {
			return i, spaced, errAt(i, "expected ',' or '}'")
		}
	default:
		if top == '{' {
			return i, spaced, errAt(i, "expected ',' or '}'")
		}
		return i, spaced, errAt(i, "expected ',' or ']'")
	}
	stack = stack[:len(stack)-1]
	i++
	goto after

key: // at a member name (whitespace skipped)
	if i >= n || b[i] != '"' {
		return i, spaced, errAt(i, "expected a member name")
	}
	kend, bad := scanStr(b, i)
	if bad >= badString {
		return kend, spaced, scanErr(i, kend, bad)
	}
	i = kend
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n || b[i] != ':' {
		return i, spaced, errAt(i, "expected ':' after a member name")
	}
	i++
	goto value
}
