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
	i, _, bad := skipNested(b, 0, maxDepth)
	if bad != 0 {
		return nestedErr(b, i, bad, maxDepth)
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
	end, spaced, bad := skipNested(b, 0, maxDepth)
	if bad != 0 {
		return false, nestedErr(b, end, bad, maxDepth)
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
	end, _, bad = skipNested(b, i, maxDepth)
	if bad != 0 {
		return end, nestedErr(b, end, bad, maxDepth)
	}
	return end, nil
}

// skipNested is skip for any value, containers included. It walks nested
// values with an explicit stack rather than recursion, so depth costs a
// byte, not a stack frame. Like the scanners it builds no error: on failure
// bad is a bad* code and end where the problem is (nestedErr makes the
// error), which keeps its loop lean.
func skipNested(b []byte, i, maxDepth int) (end int, spaced bool, bad uint8) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // open containers: '{' or '['
	n := len(b)
	var start int

value:
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n {
		return i, spaced, badEnd
	}
	switch b[i] {
	case '{':
		if len(stack) >= maxDepth {
			return i, spaced, badDepth
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
			return i, spaced, badDepth
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
		start = i
		if i, bad = scanStr(b, i); bad >= badString {
			goto failed
		}
	case 't':
		start = i
		if i = literal(b, i, "true"); i < 0 {
			return start, spaced, badLiteral
		}
	case 'f':
		start = i
		if i = literal(b, i, "false"); i < 0 {
			return start, spaced, badLiteral
		}
	case 'n':
		start = i
		if i = literal(b, i, "null"); i < 0 {
			return start, spaced, badLiteral
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		start = i
		if i, bad = scanNum(b, i); bad == badNumber {
			goto failed
		}
	default:
		return i, spaced, badUnexpected
	}

after:
	if len(stack) == 0 {
		return i, spaced, 0
	}
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n {
		return i, spaced, badEnd
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
			return i, spaced, badArrayEnd
		}
	case ']':
		if top != '[' {
			return i, spaced, badObjectEnd
		}
	default:
		if top == '{' {
			return i, spaced, badObjectEnd
		}
		return i, spaced, badArrayEnd
	}
	stack = stack[:len(stack)-1]
	i++
	goto after

key: // at a member name (whitespace skipped)
	if i >= n || b[i] != '"' {
		return i, spaced, badName
	}
	start = i
	if i, bad = scanStr(b, i); bad >= badString {
		goto failed
	}
	if i < n && b[i] <= ' ' {
		i, spaced = skipSpace(b, i), true
	}
	if i >= n || b[i] != ':' {
		return i, spaced, badColon
	}
	i++
	goto value

failed: // a string or number at start
	if bad == badString || bad == badNumber {
		i = start
	}
	return i, spaced, bad
}
