package postgres

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// textConv appends the JSON form (connectors/schema's conventions) of a
// value in PostgreSQL's text output format. Sources read values as text:
// pgoutput sends them so, and snapshots and polling queries use the simple
// protocol, so one set of conversions serves every source path.
type textConv func(dst []byte, text []byte) ([]byte, error)

// textConvFor returns the conversion for a base type; elem is the element
// type of an array (0 otherwise) and delim its delimiter.
func textConvFor(oid, elem uint32, delim byte) textConv {
	if elem != 0 {
		ec := textConvFor(elem, 0, 0)
		if delim == 0 {
			delim = ','
		}
		return func(dst, text []byte) ([]byte, error) { return appendPGArrayJSON(dst, text, delim, ec) }
	}
	switch oid {
	case pgtype.BoolOID:
		return func(dst, text []byte) ([]byte, error) {
			switch string(text) {
			case "t":
				return append(dst, "true"...), nil
			case "f":
				return append(dst, "false"...), nil
			}
			return dst, fmt.Errorf("boolean %q", text)
		}
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		return func(dst, text []byte) ([]byte, error) {
			n, err := strconv.ParseInt(string(text), 10, 64)
			if err != nil {
				return dst, fmt.Errorf("integer %q", text)
			}
			return strconv.AppendInt(dst, n, 10), nil
		}
	case pgtype.Float4OID, pgtype.Float8OID:
		return func(dst, text []byte) ([]byte, error) {
			switch string(text) {
			case "NaN", "Infinity", "-Infinity":
				return appendJSONString(dst, string(text)), nil
			}
			f, err := strconv.ParseFloat(string(text), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return dst, fmt.Errorf("float %q", text)
			}
			return strconv.AppendFloat(dst, f, 'g', -1, 64), nil
		}
	case pgtype.NumericOID:
		// Decimals travel as strings so no consumer rounds them through a
		// float; NaN and infinities are strings as well.
		return quoteText
	case pgtype.ByteaOID:
		return func(dst, text []byte) ([]byte, error) {
			if len(text) < 2 || text[0] != '\\' || text[1] != 'x' {
				return dst, fmt.Errorf("bytea is not in hex output format")
			}
			raw := make([]byte, hex.DecodedLen(len(text)-2))
			if _, err := hex.Decode(raw, text[2:]); err != nil {
				return dst, fmt.Errorf("bytea: %w", err)
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, raw)
			return append(dst, '"'), nil
		}
	case pgtype.TimestamptzOID:
		return func(dst, text []byte) ([]byte, error) { return appendTimestampJSON(dst, text, true) }
	case pgtype.TimestampOID:
		return func(dst, text []byte) ([]byte, error) { return appendTimestampJSON(dst, text, false) }
	case pgtype.JSONOID, pgtype.JSONBOID:
		return func(dst, text []byte) ([]byte, error) {
			if !json.Valid(text) {
				return dst, fmt.Errorf("json value is not valid JSON")
			}
			return append(dst, text...), nil
		}
	}
	// text, varchar, uuid, date, time, interval, inet, enums, ...: their
	// text form is what connectors/schema expects, as a JSON string.
	return quoteText
}

func quoteText(dst, text []byte) ([]byte, error) { return appendJSONString(dst, string(text)), nil }

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// appendTimestampJSON rewrites PostgreSQL's ISO output ("2024-02-29
// 23:59:59.123456+00", session time zone UTC) as RFC 3339
// ("2024-02-29T23:59:59.123456Z"). Values it cannot parse (infinity, BC
// dates) pass through as strings.
func appendTimestampJSON(dst, text []byte, withZone bool) ([]byte, error) {
	s := string(text)
	layouts := []string{"2006-01-02 15:04:05.999999"}
	if withZone {
		layouts = []string{"2006-01-02 15:04:05.999999Z07", "2006-01-02 15:04:05.999999Z07:00", "2006-01-02 15:04:05.999999Z07:00:00"}
	}
	for _, layout := range layouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		dst = append(dst, '"')
		if withZone {
			dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
		} else {
			dst = t.AppendFormat(dst, "2006-01-02T15:04:05.999999999")
		}
		return append(dst, '"'), nil
	}
	return appendJSONString(dst, s), nil
}

// MaxArrayDepth is PostgreSQL's MAXDIM.
const MaxArrayDepth = 6

// appendPGArrayJSON converts an array in PostgreSQL's text output format
// ({1,2,NULL}, {{"a b","c\"d"}}, [0:1]={1,2}) to a JSON array, converting
// elements with ec.
func appendPGArrayJSON(dst, text []byte, delim byte, ec textConv) ([]byte, error) {
	s := text
	if len(s) > 0 && s[0] == '[' { // explicit bounds: [1:2]={...}
		i := strings.IndexByte(string(s), '=')
		if i < 0 {
			return dst, fmt.Errorf("array %q: bounds without '='", snippetBytes(text))
		}
		s = s[i+1:]
	}
	p := arrayParser{s: s, delim: delim, conv: ec}
	out, err := p.parse(dst, 0)
	if err != nil {
		return dst, fmt.Errorf("array %q: %w", snippetBytes(text), err)
	}
	if p.i != len(p.s) {
		return dst, fmt.Errorf("array %q: trailing data at byte %d", snippetBytes(text), p.i)
	}
	return out, nil
}

type arrayParser struct {
	s     []byte
	i     int
	delim byte
	conv  textConv
	elem  []byte
}

func (p *arrayParser) parse(dst []byte, depth int) ([]byte, error) {
	if depth >= MaxArrayDepth {
		return dst, fmt.Errorf("nested deeper than %d", MaxArrayDepth)
	}
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return dst, fmt.Errorf("expected '{' at byte %d", p.i)
	}
	p.i++
	dst = append(dst, '[')
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return append(dst, ']'), nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		if p.i >= len(p.s) {
			return dst, fmt.Errorf("unterminated")
		}
		var err error
		switch p.s[p.i] {
		case '{':
			dst, err = p.parse(dst, depth+1)
		case '"':
			dst, err = p.quoted(dst)
		default:
			dst, err = p.bare(dst)
		}
		if err != nil {
			return dst, err
		}
		if p.i >= len(p.s) {
			return dst, fmt.Errorf("unterminated")
		}
		switch p.s[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return append(dst, ']'), nil
		default:
			return dst, fmt.Errorf("unexpected %q at byte %d", p.s[p.i], p.i)
		}
	}
}

func (p *arrayParser) quoted(dst []byte) ([]byte, error) {
	p.i++ // opening quote
	p.elem = p.elem[:0]
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return dst, fmt.Errorf("unterminated escape")
			}
			p.elem = append(p.elem, p.s[p.i+1])
			p.i += 2
			continue
		case '"':
			p.i++
			return p.conv(dst, p.elem)
		}
		p.elem = append(p.elem, c)
		p.i++
	}
	return dst, fmt.Errorf("unterminated quoted element")
}

func (p *arrayParser) bare(dst []byte) ([]byte, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
		if p.s[p.i] == '{' || p.s[p.i] == '"' {
			return dst, fmt.Errorf("unexpected %q at byte %d", p.s[p.i], p.i)
		}
		p.i++
	}
	el := p.s[start:p.i]
	if len(el) == 0 {
		return dst, fmt.Errorf("empty element at byte %d", start)
	}
	if string(el) == "NULL" {
		return append(dst, "null"...), nil
	}
	return p.conv(dst, el)
}

func snippetBytes(b []byte) string {
	if len(b) > 64 {
		return string(b[:61]) + "..."
	}
	return string(b)
}
