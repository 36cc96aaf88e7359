package jsonscan

import "unicode/utf8"

// MaxDepth is encoding/json's nesting limit, the default where a caller
// has no tighter one of its own.
const MaxDepth = 10000

// String flags, reported by the string scanner: what a literal holds
// besides plain ASCII.
const (
	flagEscape   uint8 = 1 << iota // a backslash escape
	flagNonASCII                   // bytes >= 0x80 (UTF-8 to check)
)

// Byte classes inside a string literal.
const (
	cPlain   uint8 = iota // printable ASCII other than '"' and '\\'
	cQuote                // '"'
	cEscape               // '\\'
	cControl              // < 0x20: not allowed unescaped
	cHigh                 // >= 0x80
)

var strClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c < 0x20:
			t[c] = cControl
		case c == '"':
			t[c] = cQuote
		case c == '\\':
			t[c] = cEscape
		case c >= utf8.RuneSelf:
			t[c] = cHigh
		}
	}
	return t
}()

// skipSpace returns the index of the first non-whitespace byte from i.
// Whitespace is rare in machine-written JSON, so hot callers test
// b[i] <= ' ' before calling.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// Why a string or number scan failed (scanStr's flags, scanNum's kind, at
// or above badString): the scanners are leaf functions that build no
// errors, which keeps their loops in registers; their wrappers do.
const (
	badString uint8 = 0x80 + iota // unterminated string
	badControl
	badEscape
	badUEscape
	badNumber
	badEnd
	badDepth
	badLiteral
	badUnexpected
	badName
	badColon
	badObjectEnd
	badArrayEnd
)

var badMsg = [...]string{"unterminated string", "control character in string", "invalid escape", "invalid \\u escape",
	"invalid number", "unexpected end of input", "", "invalid literal", "", "expected a member name",
	"expected ':' after a member name", "expected ',' or '}'", "expected ',' or ']'"}

// nestedErr is the error for skipNested's failure bad at b[i].
func nestedErr(b []byte, i int, bad uint8, maxDepth int) error {
	switch bad {
	case badDepth:
		return errDepth(i, maxDepth)
	case badUnexpected:
		return errUnexpected(b, i)
	}
	return errAt(i, badMsg[bad-badString])
}

// scanString validates the string literal at b[i] ('"') and returns the
// index past its closing quote and what it holds besides plain ASCII.
// Invalid UTF-8 is accepted, as encoding/json accepts it (decoding replaces
// it); flagNonASCII tells decoders to look.
func scanString(b []byte, i int) (end int, flags uint8, err error) {
	if end, flags = scanStr(b, i); flags >= badString {
		return end, 0, scanErr(i, end, flags)
	}
	return end, flags, nil
}

// scanErr is the error for a failed scan of the value at start.
func scanErr(start, end int, bad uint8) error {
	if bad == badString || bad == badNumber {
		end = start // say where the string or number starts
	}
	return errAt(end, badMsg[bad-badString])
}

// scanStr is scanString without the error: on failure the flags are a bad*
// code and end is where the problem is.
func scanStr(b []byte, i int) (end int, flags uint8) {
	i++
	for i < len(b) {
		c := b[i]
		if strClass[c] == cPlain {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, flags
		case c >= utf8.RuneSelf:
			flags |= flagNonASCII
			i++
			continue
		case c < 0x20:
			return i, badControl
		}
		// A backslash escape.
		flags |= flagEscape
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u': // no call here: scanStr stays a leaf, with no frame
			if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
				return i, badUEscape
			}
			i += 6
		default:
			return i, badEscape
		}
	}
	return i, badString
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// Number kinds (scanNum).
const (
	numInt   uint8 = iota // no fraction, no exponent
	numFloat              // a fraction or an exponent
)

// scanNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at
// b[i] and returns the index past it; isInt is false when it has a
// fraction or an exponent.
func scanNumber(b []byte, i int) (end int, isInt bool, err error) {
	end, kind := scanNum(b, i)
	if kind == badNumber {
		return end, false, errAt(i, "invalid number")
	}
	return end, kind == numInt, nil
}

// scanNum is scanNumber without the error (kind badNumber).
func scanNum(b []byte, i int) (end int, kind uint8) {
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
		return i, badNumber
	}
	if i < n && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, badNumber
		}
		i, kind = j, numFloat
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, badNumber
		}
		i, kind = j, numFloat
	}
	return i, kind
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literal checks that b[i:] starts with word and returns the index past
// it, or -1 (literalAt makes the error).
func literal(b []byte, i int, word string) int {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return -1
	}
	return i + len(word)
}

// literalAt is literal with an error.
func literalAt(b []byte, i int, word string) (int, error) {
	if end := literal(b, i, word); end >= 0 {
		return end, nil
	}
	return i, errAt(i, "invalid literal")
}
