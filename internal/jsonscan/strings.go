package jsonscan

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Plain returns the content of the JSON string literal raw (quotes
// included) when it needs no decoding: no escapes and valid UTF-8. Callers
// then use it as it is, with no copy; ok is false when it must be decoded
// (Unquote) or is not a string literal at all.
func Plain(raw []byte) (body []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	end, flags, err := scanString(raw, 0)
	if err != nil || end != len(raw) || flags&flagEscape != 0 {
		return nil, false
	}
	body = raw[1 : len(raw)-1]
	if flags&flagNonASCII != 0 && !utf8.Valid(body) {
		return nil, false
	}
	return body, true
}

// Unquote decodes the JSON string literal raw (quotes included) as
// encoding/json does: escapes decoded, invalid UTF-8 and unpaired
// surrogates replaced by U+FFFD. A literal with neither costs one
// allocation, the string itself.
func Unquote(raw []byte) (string, error) {
	if body, ok := Plain(raw); ok {
		return string(body), nil
	}
	b, err := AppendUnquoted(nil, raw)
	return string(b), err
}

// AppendUnquoted appends the decoded content of the JSON string literal raw
// (quotes included) to dst.
func AppendUnquoted(dst, raw []byte) ([]byte, error) {
	if len(raw) < 2 || raw[0] != '"' {
		return dst, errAt(0, "expected a string")
	}
	end, _, err := scanString(raw, 0)
	if err != nil {
		return dst, err
	}
	if end != len(raw) {
		return dst, errAt(end, "data after the string")
	}
	return appendUnquoted(dst, raw[1:len(raw)-1])
}

// appendUnquoted decodes a string body the scanner has validated.
func appendUnquoted(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return dst, errAt(i, "invalid escape")
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return dst, errAt(i, "invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A pair decodes to one rune; anything else leaves U+FFFD
				// and the next escape stands on its own (as encoding/json).
				r2 := rune(-1)
				if i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if x, ok := hex4(s, i+2); ok {
						r2 = x
					}
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					dst = utf8.AppendRune(dst, dec)
					i += 6
					continue
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, errAt(i, "invalid escape")
		}
		i += 2
	}
	return dst, nil
}
