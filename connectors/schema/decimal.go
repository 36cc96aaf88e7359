package schema

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/apache/arrow/go/v17/arrow/decimal128"
)

// maxDecimalText bounds the length of a decimal's text so a hostile value
// ("1e999999999") cannot make parsing allocate without limit.
const maxDecimalText = 200

var bigTen = big.NewInt(10)

// ParseDecimal parses s ("-12.345", "1.5e3", "+7") exactly into a decimal
// with the given precision and scale, rounding half away from zero when s has
// more fractional digits than scale (as PostgreSQL numeric does). It reports
// an error when the value does not fit the precision.
func ParseDecimal(s string, precision, scale int32) (decimal128.Num, error) {
	if precision < 1 || precision > MaxDecimalPrecision || scale < 0 || scale > precision {
		return decimal128.Num{}, fmt.Errorf("decimal128(%d,%d) out of range", precision, scale)
	}
	if len(s) == 0 || len(s) > maxDecimalText {
		return decimal128.Num{}, fmt.Errorf("not a decimal: %q", truncate(s))
	}
	neg := false
	switch s[0] {
	case '-':
		neg = true
		s = s[1:]
	case '+':
		s = s[1:]
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, ok := atoiSmall(s[i+1:])
		if !ok {
			return decimal128.Num{}, fmt.Errorf("not a decimal: bad exponent in %q", truncate(s))
		}
		exp = e
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) {
		return decimal128.Num{}, fmt.Errorf("not a decimal: %q", truncate(s))
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	// value = digits * 10^(exp - len(frac)); we want value * 10^scale.
	shift := exp - len(frac) + int(scale)
	if digits == "" {
		return decimal128.Num{}, nil
	}
	if len(digits)+shift > int(precision) {
		return decimal128.Num{}, fmt.Errorf("%s%s does not fit decimal128(%d,%d)", sign(neg), truncate(s), precision, scale)
	}
	if num, ok := fastDecimal(digits, shift, neg); ok {
		if !num.FitsInPrecision(precision) {
			return decimal128.Num{}, fmt.Errorf("%s%s does not fit decimal128(%d,%d)", sign(neg), truncate(s), precision, scale)
		}
		return num, nil
	}
	n, _ := new(big.Int).SetString(digits, 10)
	switch {
	case shift > 0:
		n.Mul(n, new(big.Int).Exp(bigTen, big.NewInt(int64(shift)), nil))
	case shift < 0:
		if -shift > len(digits) {
			// Everything is below half a unit of the last place.
			n.SetInt64(0)
			break
		}
		div := new(big.Int).Exp(bigTen, big.NewInt(int64(-shift)), nil)
		q, r := new(big.Int).QuoRem(n, div, new(big.Int))
		if r.Lsh(r, 1).Cmp(div) >= 0 {
			q.Add(q, big.NewInt(1))
		}
		n = q
	}
	if neg {
		n.Neg(n)
	}
	num := decimal128.FromBigInt(n)
	if !num.FitsInPrecision(precision) {
		return decimal128.Num{}, fmt.Errorf("%s%s does not fit decimal128(%d,%d)", sign(neg), truncate(s), precision, scale)
	}
	return num, nil
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// fastDecimal computes digits * 10^shift (rounded half away from zero) in
// int64 when everything fits in 18 digits.
func fastDecimal(digits string, shift int, neg bool) (decimal128.Num, bool) {
	if len(digits) > 18 || len(digits)+shift > 18 || shift < -18 {
		return decimal128.Num{}, false
	}
	var n int64
	for i := 0; i < len(digits); i++ {
		n = n*10 + int64(digits[i]-'0')
	}
	switch {
	case shift > 0:
		n *= pow10[shift]
	case shift < 0:
		div := pow10[-shift]
		q, r := n/div, n%div
		if 2*r >= div {
			q++
		}
		n = q
	}
	if neg {
		n = -n
	}
	return decimal128.FromI64(n), true
}

// FormatDecimal writes n with scale fractional digits, exactly ("-12.30").
func FormatDecimal(n decimal128.Num, scale int32) string {
	s := n.BigInt().String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if scale > 0 {
		if len(s) <= int(scale) {
			s = strings.Repeat("0", int(scale)-len(s)+1) + s
		}
		s = s[:len(s)-int(scale)] + "." + s[len(s)-int(scale):]
	}
	if neg {
		return "-" + s
	}
	return s
}

func sign(neg bool) string {
	if neg {
		return "-"
	}
	return ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoiSmall(s string) (int, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" || len(s) > 4 || !allDigits(s) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
