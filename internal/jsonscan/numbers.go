package jsonscan

import (
	"math"
	"strconv"
	"unsafe"
)

// Int parses a JSON number literal that is an integer (no fraction, no
// exponent) exactly into an int64; ok is false for anything else,
// including integers out of range. Callers that accept 3.0 or 1e3 for an
// integer decide that themselves.
func Int(raw []byte) (n int64, ok bool) {
	neg := len(raw) > 0 && raw[0] == '-'
	d := raw
	if neg {
		d = raw[1:]
	}
	if !intDigits(d) {
		return 0, false
	}
	if len(d) <= 18 { // fits: no overflow check needed
		for _, c := range d {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return n, true
	}
	n, err := strconv.ParseInt(view(raw), 10, 64)
	return n, err == nil
}

// Uint is Int for unsigned integers.
func Uint(raw []byte) (uint64, bool) {
	if !intDigits(raw) {
		return 0, false
	}
	if len(raw) <= 19 {
		var n uint64
		for _, c := range raw {
			n = n*10 + uint64(c-'0')
		}
		return n, true
	}
	n, err := strconv.ParseUint(view(raw), 10, 64)
	return n, err == nil
}

// intDigits reports whether d is 0 or [1-9][0-9]*.
func intDigits(d []byte) bool {
	if len(d) == 0 || d[0] == '0' && len(d) > 1 {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// IsInteger reports whether the number literal raw has no fraction and no
// exponent (it may still be too large for an int64).
func IsInteger(raw []byte) bool {
	for _, c := range raw {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

// Float parses a JSON number literal into the nearest float64, as
// encoding/json does; a literal beyond float64's range is an error (as
// there), as is anything that is not a JSON number.
func Float(raw []byte) (float64, error) {
	if len(raw) == 0 {
		return 0, errAt(0, "expected a number")
	}
	end, isInt, err := scanNumber(raw, 0)
	if err != nil {
		return 0, err
	}
	if end != len(raw) {
		return 0, errAt(end, "data after the number")
	}
	f, ok := parseFloat(raw, isInt)
	if !ok {
		return 0, errRange(0, raw)
	}
	return f, nil
}

func errRange(i int, raw []byte) error {
	return errAt(i, "number "+truncate(raw)+" is out of float64 range")
}

// parseFloat parses a literal the scanner accepted; ok is false when it is
// beyond float64's range.
func parseFloat(raw []byte, isInt bool) (float64, bool) {
	if isInt && len(raw) < 16 { // exact in a float64: skip ParseFloat
		var n int64
		neg := raw[0] == '-'
		for _, c := range raw {
			if c != '-' {
				n = n*10 + int64(c-'0')
			}
		}
		if neg {
			return -float64(n), true
		}
		return float64(n), true
	}
	f, err := strconv.ParseFloat(view(raw), 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// view is b as a string without a copy, for parsers that keep nothing of
// their input (strconv copies what it puts in its errors).
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}
