package schema

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sluicehq/sluice/internal/jsonscan"
)

// JSON values are read with internal/jsonscan, straight from the input
// bytes: most need no unescaping and fit machine integers, so converting
// them allocates nothing but the value itself.

// maxJSONDepth bounds how deeply a row's JSON may nest (encoding/json
// allows 10000; a record needs far fewer, and the converted types nest at
// most maxTypeDepth anyway).
const maxJSONDepth = 1000

// jsonString returns the value of a JSON string literal.
func jsonString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", fmt.Errorf("expected a string, got %s", snippet(raw))
	}
	s, err := jsonscan.Unquote(raw)
	if err != nil {
		return "", fmt.Errorf("invalid string: %v", err)
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

func jsonInt(raw []byte, min, max int64) (any, error) {
	n, ok := jsonscan.Int(raw)
	if !ok {
		s, err := numberText(raw)
		if err != nil {
			return nil, fmt.Errorf("expected an integer, got %s", snippet(raw))
		}
		if n, err = strconv.ParseInt(s, 10, 64); err != nil {
			// Accept integral values written with a fraction or exponent (3.0, 1e3).
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f != math.Trunc(f) || f < -9.2e18 || f > 9.2e18 {
				return nil, fmt.Errorf("expected an integer, got %s", snippet(raw))
			}
			n = int64(f)
		}
	}
	if n < min || n > max {
		return nil, fmt.Errorf("%d out of range [%d, %d]", n, min, max)
	}
	return n, nil
}

func jsonUint(raw []byte, max uint64) (any, error) {
	n, ok := jsonscan.Uint(raw)
	if !ok {
		s, err := numberText(raw)
		if err != nil {
			return nil, fmt.Errorf("expected an unsigned integer, got %s", snippet(raw))
		}
		if n, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fmt.Errorf("expected an unsigned integer, got %s", snippet(raw))
		}
	}
	if n > max {
		return nil, fmt.Errorf("%d out of range [0, %d]", n, max)
	}
	return n, nil
}
