package schema

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// A small allocation-free JSON scanner for the per-record hot path: it
// walks an object's members (or an array's elements) as raw byte spans and
// validates them exactly as encoding/json would (FuzzScanMatchesStdlib
// checks that), so callers convert values straight from the input bytes.

var errSyntax = errors.New("invalid JSON")

func syntaxErr(i int, what string) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, i, what)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i]
// (after optional whitespace).
func skipValue(b []byte, i, depth int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		_, end, err := scanString(b, i)
		return end, err
	case c == '{':
		if depth >= maxScanDepth {
			return i, syntaxErr(i, "nested too deeply")
		}
		return scanObject(b, i, depth+1, nil)
	case c == '[':
		if depth >= maxScanDepth {
			return i, syntaxErr(i, "nested too deeply")
		}
		return scanArray(b, i, depth+1, nil)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return scanNumber(b, i)
	default:
		return i, syntaxErr(i, fmt.Sprintf("unexpected %q", c))
	}
}

// maxScanDepth bounds nesting (encoding/json allows 10000; a record needs
// far fewer, and a bound keeps hostile input from exhausting the stack).
const maxScanDepth = 1000

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func scanNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, syntaxErr(start, "invalid number")
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

// scanString validates the string starting at b[i] (a quote) and returns
// whether it holds escapes and the index past its closing quote.
func scanString(b []byte, i int) (escaped bool, end int, err error) {
	start := i
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return escaped, i + 1, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				return escaped, i, syntaxErr(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return escaped, i, syntaxErr(i, "invalid escape")
				}
				for _, h := range b[i+2 : i+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return escaped, i, syntaxErr(i, "invalid escape")
					}
				}
				i += 6
			default:
				return escaped, i, syntaxErr(i, "invalid escape")
			}
		case c < 0x20:
			return escaped, i, syntaxErr(i, "control character in string")
		case c < utf8.RuneSelf:
			i++
		default:
			// encoding/json accepts invalid UTF-8 (replacing it); so do we,
			// and mark the string for the slow path that replaces it.
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				escaped = true
			}
			i += n
		}
	}
	return escaped, i, syntaxErr(start, "unterminated string")
}

// scanObject walks the object at b[i], calling fn (when not nil) with each
// member's raw key (without quotes; escaped reports backslashes) and raw
// value, and returns the index past the closing brace.
func scanObject(b []byte, i, depth int, fn func(key []byte, escaped bool, val []byte) error) (int, error) {
	i++ // '{'
	i = skipSpace(b, i)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected a member name")
		}
		esc, kend, err := scanString(b, i)
		if err != nil {
			return kend, err
		}
		key := b[i+1 : kend-1]
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':'")
		}
		vstart := skipSpace(b, i+1)
		vend, err := skipValue(b, vstart, depth)
		if err != nil {
			return vend, err
		}
		if fn != nil {
			if err := fn(key, esc, b[vstart:vend]); err != nil {
				return vend, err
			}
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated object")
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or '}'")
		}
	}
}

// scanArray walks the array at b[i], calling fn (when not nil) with each
// element's raw value.
func scanArray(b []byte, i, depth int, fn func(val []byte) error) (int, error) {
	i++ // '['
	i = skipSpace(b, i)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		vstart := skipSpace(b, i)
		vend, err := skipValue(b, vstart, depth)
		if err != nil {
			return vend, err
		}
		if fn != nil {
			if err := fn(b[vstart:vend]); err != nil {
				return vend, err
			}
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated array")
		}
		switch b[i] {
		case ',':
			i++
		case ']':
			return i + 1, nil
		default:
			return i, syntaxErr(i, "expected ',' or ']'")
		}
	}
}

// eachMember calls fn for every member of the JSON object doc, which must
// be the whole input (whitespace aside).
func eachMember(doc []byte, fn func(key []byte, escaped bool, val []byte) error) error {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return fmt.Errorf("not a JSON object: %s", snippet(doc))
	}
	end, err := scanObject(doc, i, 1, fn)
	if err != nil {
		return err
	}
	if skipSpace(doc, end) != len(doc) {
		return syntaxErr(end, "data after the object")
	}
	return nil
}

// eachElement calls fn for every element of the JSON array arr.
func eachElement(arr []byte, depth int, fn func(val []byte) error) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return fmt.Errorf("not a JSON array: %s", snippet(arr))
	}
	end, err := scanArray(arr, i, depth+1, fn)
	if err != nil {
		return err
	}
	if skipSpace(arr, end) != len(arr) {
		return syntaxErr(end, "data after the array")
	}
	return nil
}
