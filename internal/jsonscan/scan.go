package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

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

// scanString validates the string literal at b[i] ('"') and returns the
// index past its closing quote and what it holds besides plain ASCII.
// Invalid UTF-8 is accepted, as encoding/json accepts it (decoding replaces
// it); flagNonASCII tells decoders to look. Runs of plain bytes are skipped
// eight at a time.
func scanString(b []byte, i int) (end int, flags uint8, err error) {
	start := i
	i++
	for {
		for i+8 <= len(b) {
			if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto special
			}
			i += 8
		}
		for i < len(b) && strClass[b[i]] == cPlain {
			i++
		}
		if i >= len(b) {
			return i, flags, errAt(start, "unterminated string")
		}
	special:
		switch strClass[b[i]] {
		case cPlain:
			i++
		case cHigh:
			flags |= flagNonASCII
			i++
		case cQuote:
			return i + 1, flags, nil
		case cControl:
			return i, flags, errAt(i, "control character in string")
		default: // cEscape
			flags |= flagEscape
			if i+1 >= len(b) {
				return i, flags, errAt(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := hex4(b, i+2); !ok {
					return i, flags, errAt(i, "invalid \\u escape")
				}
				i += 6
			default:
				return i, flags, errAt(i, "invalid escape")
			}
		}
	}
}

// special8 marks (in each byte's high bit) the bytes of the little-endian
// word x that a string scan must look at: '"', '\\', control characters
// and non-ASCII. Bits above the lowest may be false alarms (borrows); the
// lowest is exact, and is all the scan uses.
func special8(x uint64) uint64 {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := x ^ (lsb * '"')
	e := x ^ (lsb * '\\')
	// (v-lsb)&^v has a byte's high bit set where v's byte is zero (the
	// lowest exactly); likewise (x-0x20s)&^x where x's byte is < 0x20.
	return ((x-lsb*0x20)&^x | (q-lsb)&^q | (e-lsb)&^e | x) & msb
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

// scanNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at
// b[i] and returns the index past it; isInt is false when it has a
// fraction or an exponent.
func scanNumber(b []byte, i int) (end int, isInt bool, err error) {
	start, n := i, len(b)
	if b[i] == '-' {
		i++
	}
	switch {
	case i < n && b[i] == '0':
		i++
	case i < n && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false, errAt(start, "invalid number")
	}
	isInt = true
	if i < n && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false, errAt(start, "invalid number")
		}
		i, isInt = j, false
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false, errAt(start, "invalid number")
		}
		i, isInt = j, false
	}
	return i, isInt, nil
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// literal checks that b[i:] starts with word and returns the index past it.
func literal(b []byte, i int, word string) (int, error) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return i, errAt(i, "invalid literal")
	}
	return i + len(word), nil
}
