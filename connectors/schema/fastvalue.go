package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Fast paths for converting JSON scalars: most values need no unescaping
// and fit machine integers, so they are parsed straight from the input.

func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("expected a string, got %s", snippet(raw))
	}
	body := raw[1 : len(raw)-1]
	if plainString(body) {
		return string(body), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("invalid string: %v", err)
	}
	return s, nil
}

// plainString reports whether a string body needs no unescaping: no
// backslash, quote or control character, and valid UTF-8.
func plainString(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// memberName returns an object member's name from its raw (unquoted) bytes.
func memberName(key []byte, escaped bool) (string, error) {
	if !escaped {
		return string(key), nil
	}
	q := make([]byte, 0, len(key)+2)
	q = append(append(append(q, '"'), key...), '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", fmt.Errorf("invalid member name: %v", err)
	}
	return s, nil
}

// numberText returns the text of a JSON number, or of a string holding one.
func numberText(raw []byte) (string, error) {
	if raw[0] == '"' {
		return jsonString(raw)
	}
	return string(raw), nil
}

// fastInt parses a plain base-10 integer of up to 18 digits without
// allocating; ok is false for anything else (the slow path decides).
func fastInt(b []byte) (n int64, ok bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func jsonInt(raw []byte, min, max int64) (any, error) {
	if n, ok := fastInt(raw); ok {
		if n < min || n > max {
			return nil, fmt.Errorf("%d out of range [%d, %d]", n, min, max)
		}
		return n, nil
	}
	s, err := numberText(raw)
	if err != nil {
		return nil, fmt.Errorf("expected an integer, got %s", snippet(raw))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Accept integral values written with a fraction or exponent (3.0, 1e3).
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || f < -9.2e18 || f > 9.2e18 {
			return nil, fmt.Errorf("expected an integer, got %s", snippet(raw))
		}
		n = int64(f)
	}
	if n < min || n > max {
		return nil, fmt.Errorf("%d out of range [%d, %d]", n, min, max)
	}
	return n, nil
}

func jsonUint(raw []byte, max uint64) (any, error) {
	if n, ok := fastInt(raw); ok && n >= 0 {
		if uint64(n) > max {
			return nil, fmt.Errorf("%d out of range [0, %d]", n, max)
		}
		return uint64(n), nil
	}
	s, err := numberText(raw)
	if err != nil {
		return nil, fmt.Errorf("expected an unsigned integer, got %s", snippet(raw))
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("expected an unsigned integer, got %s", snippet(raw))
	}
	if n > max {
		return nil, fmt.Errorf("%d out of range [0, %d]", n, max)
	}
	return n, nil
}

// unsafeString views b as a string without copying, for parsers that do not
// keep their input (their errors are discarded and replaced by callers).
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
