package file

// A JSON validator for the hot paths (every line the source reads and every
// value the sink writes). It accepts exactly what encoding/json.Valid
// accepts (the fuzz test checks this against it) but runs several times
// faster, allocates nothing for values nested up to 64 deep, and also
// reports whether the value has a line break between tokens, which the sink
// must remove to keep one value per line.

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

// strPlain marks bytes that need no attention inside a JSON string.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanJSON reports whether b holds exactly one JSON value (surrounding
// whitespace allowed) and whether a line break (\n or \r) appears in the
// whitespace between its tokens.
func scanJSON(b []byte) (valid, lineBreak bool) {
	var stackBuf [64]byte
	stack := stackBuf[:0] // open containers: '{' or '['
	i, n := 0, len(b)
	var brk bool

value:
	if i < len(b) && b[i] <= ' ' {
		i, brk = skipSpace(b, i, brk)
	}
	if i >= n {
		return false, false
	}
	switch b[i] {
	case '{':
		if len(stack) >= maxJSONDepth {
			return false, false
		}
		stack = append(stack, '{')
		i++
		if i < len(b) && b[i] <= ' ' {
			i, brk = skipSpace(b, i, brk)
		}
		if i < n && b[i] == '}' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto key
	case '[':
		if len(stack) >= maxJSONDepth {
			return false, false
		}
		stack = append(stack, '[')
		i++
		if i < len(b) && b[i] <= ' ' {
			i, brk = skipSpace(b, i, brk)
		}
		if i < n && b[i] == ']' {
			stack = stack[:len(stack)-1]
			i++
			goto after
		}
		goto value
	case '"':
		if i = scanString(b, i); i < 0 {
			return false, false
		}
	case 't':
		if i = literal(b, i, "true"); i < 0 {
			return false, false
		}
	case 'f':
		if i = literal(b, i, "false"); i < 0 {
			return false, false
		}
	case 'n':
		if i = literal(b, i, "null"); i < 0 {
			return false, false
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		if i = scanNumber(b, i); i < 0 {
			return false, false
		}
	default:
		return false, false
	}

after:
	if i < len(b) && b[i] <= ' ' {
		i, brk = skipSpace(b, i, brk)
	}
	if len(stack) == 0 {
		return i == n, brk && i == n
	}
	if i >= n {
		return false, false
	}
	switch top := stack[len(stack)-1]; b[i] {
	case ',':
		i++
		if top == '{' {
			if i < len(b) && b[i] <= ' ' {
				i, brk = skipSpace(b, i, brk)
			}
			goto key
		}
		goto value
	case '}':
		if top != '{' {
			return false, false
		}
	case ']':
		if top != '[' {
			return false, false
		}
	default:
		return false, false
	}
	stack = stack[:len(stack)-1]
	i++
	goto after

key: // at a member name (whitespace skipped)
	if i >= n || b[i] != '"' {
		return false, false
	}
	if i = scanString(b, i); i < 0 {
		return false, false
	}
	if i < len(b) && b[i] <= ' ' {
		i, brk = skipSpace(b, i, brk)
	}
	if i >= n || b[i] != ':' {
		return false, false
	}
	i++
	goto value
}

// skipSpace skips JSON whitespace from i, noting line breaks in brk.
// Whitespace is rare in machine-written JSON, so callers test b[i] <= ' '
// before calling it.
func skipSpace(b []byte, i int, brk bool) (int, bool) {
	for ; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t':
		case '\n', '\r':
			brk = true
		default:
			return i, brk
		}
	}
	return i, brk
}

// scanString scans the string starting at b[i] == '"' and returns the
// index after its closing quote, or -1.
func scanString(b []byte, i int) int {
	i++
	for i < len(b) {
		c := b[i]
		if strPlain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		}
		// A backslash escape.
		if i+1 >= len(b) {
			return -1
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return -1
			}
			for _, h := range b[i+2 : i+6] {
				if !isHex(h) {
					return -1
				}
			}
			i += 6
		default:
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// literal checks that b[i:] starts with word and returns the index after
// it, or -1.
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// scanNumber scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? from i
// and returns the index after it, or -1.
func scanNumber(b []byte, i int) int {
	n := len(b)
	if b[i] == '-' {
		i++
	}
	switch {
	case i < n && b[i] == '0':
		i++
	case i < n && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < n && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
