package postgres

import (
	"fmt"
	"strings"
	"testing"
)

// TestBinaryMatchesText writes the same records through the binary COPY
// encoders and through COPY text (where PostgreSQL's own input functions
// parse) and requires the same stored values. Binary may refuse values text
// accepts only where connectors/schema's JSON conventions are stricter than
// PostgreSQL's input syntax; it must never accept what text refuses.
func TestBinaryMatchesText(t *testing.T) {
	pg := startPG(t)
	shape := `id int PRIMARY KEY, b bool, i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision,
		n numeric, n2 numeric(10,3), t text, vc varchar(5), j json, jb jsonb, ts timestamptz, tsl timestamp,
		d date, tm time, u uuid, by bytea`
	pg.Exec(t, `CREATE TABLE bin (`+shape+`)`)
	pg.Exec(t, `CREATE TABLE txt (`+shape+`, force int[])`)

	values := map[string][]string{
		"b":  {`true`, `false`, `"t"`, `"no"`, `1`, `0`, `"maybe"`, `2`},
		"i2": {`0`, `-32768`, `32767`, `32768`, `"12"`, `1.5`, `1e2`},
		"i4": {`2147483647`, `-2147483648`, `2147483648`, `" 7 "`},
		"i8": {`9223372036854775807`, `-9223372036854775808`, `9223372036854775808`, `"-5"`},
		"f4": {`1.5`, `-0`, `3.4e38`, `1e39`, `"NaN"`, `"Infinity"`, `"-Infinity"`, `1e-50`},
		"f8": {`0.1`, `1e308`, `1e309`, `"nan"`, `5e-324`, `-1.7976931348623157e308`},
		"n":  {`0`, `0.00`, `-0`, `1`, `10000`, `12345.6789`, `0.0001`, `0.00001`, `1e5`, `1.5e-7`, `-987654321.123456789`, `99999999`, `100000000`, `"1E+3"`, `123456789012345678901234567890.123`, `"NaN"`, `"Infinity"`, `"-Infinity"`, `1000.5000`, `0.10`, `"1."`, `".5"`, `"abc"`, `"1e"`},
		"n2": {`1.2345`, `1.2344`, `-1.0005`, `9999999.999`, `10000000`, `"0.0005"`},
		"t":  {`"plain"`, `"tab\tnl\n"`, `"é ☃ 😀"`, `12`, `{"a":1}`, `"\u0000"`},
		"vc": {`"12345"`, `"123456"`, `"abc  "`},
		"j":  {`{"b":1,"a":[1,2]}`, `"s"`, `null`, `1.50`},
		"jb": {`{"b":1,"a":[1,2]}`, `"s"`, `[]`, `1.50`},
		"ts": {`"2024-02-29T23:59:59.123456Z"`, `"2024-02-29T23:59:59+02:00"`, `"2024-02-29 23:59:59"`, `"2024-02-29"`, `1709251199123`, `"infinity"`, `"-infinity"`, `"1999-12-31T23:59:59.999999Z"`, `"0001-01-01T00:00:00Z"`, `"yesterday"`, `"2024-02-30T00:00:00Z"`, `"2024-02-29T23:59:59.1234566Z"`,
			`"2024-02-29T23:59:59.9999996Z"`, `"2024-02-29T23:59:59.123456789-01:30"`, `"2024-02-29T23:59:59+0530"`},
		"tsl": {`"2024-02-29T23:59:59.123456"`, `"2024-02-29T23:59:59+02:00"`, `1709251199123`, `"1970-01-01 00:00:00"`},
		"d":   {`"2024-02-29"`, `19782`, `"1999-12-31"`, `"2024-02-29T10:00:00Z"`, `"infinity"`, `0`, `-1`, `"2024-13-01"`},
		"tm":  {`"13:14:15.5"`, `"00:00"`, `"23:59:59.999999"`, `"24:00:00"`, `"25:00"`, `1`},
		"u":   {`"123e4567-e89b-12d3-a456-426614174000"`, `"123E4567E89B12D3A456426614174000"`, `"{123e4567-e89b-12d3-a456-426614174000}"`, `"123e4567"`, `"zz3e4567-e89b-12d3-a456-426614174000"`},
		"by":  {`"AAEC/w=="`, `""`, `"aGVsbG8"`},
	}
	var bin, txt []string
	id := 0
	ids := map[int]string{}
	for _, col := range []string{"b", "i2", "i4", "i8", "f4", "f8", "n", "n2", "t", "vc", "j", "jb", "ts", "tsl", "d", "tm", "u", "by"} {
		for _, v := range values[col] {
			id++
			ids[id] = col + "=" + v
			bin = append(bin, "", fmt.Sprintf(`{"id":%d,%q:%s}`, id, col, v))
			txt = append(txt, "", fmt.Sprintf(`{"id":%d,%q:%s,"force":[1]}`, id, col, v))
		}
	}
	sb := openSink(t, pg, map[string]string{"table.name.format": "bin"})
	st := openSink(t, pg, map[string]string{"table.name.format": "txt"})
	binErr := write(t, sb, recs("x", 0, bin...))
	txtErr := write(t, st, recs("x", 0, txt...))
	refusedBy := func(err error) map[int]bool {
		m := map[int]bool{}
		if err != nil {
			for _, i := range refusedIndexes(t, err) {
				m[i+1] = true // record index → id
			}
		}
		return m
	}
	rb, rt := refusedBy(binErr), refusedBy(txtErr)
	cols := `b::text, i2, i4, i8, f4::text, f8::text, n::text, n2::text, t, vc, j::text, jb::text, ts::text, tsl::text, d::text, tm::text, u::text, encode(by, 'hex')`
	rowsB := map[string]bool{}
	for _, r := range query(t, pg, `SELECT id, `+cols+` FROM bin`) {
		rowsB[r] = true
	}
	rowsT := map[string]bool{}
	for _, r := range query(t, pg, `SELECT id, `+cols+` FROM txt`) {
		rowsT[r] = true
	}
	var looser []string
	for i := 1; i <= id; i++ {
		switch {
		case rb[i] && rt[i]:
		case !rb[i] && rt[i]:
			t.Errorf("%s: binary accepted what PostgreSQL refuses", ids[i])
		case rb[i] && !rt[i]:
			looser = append(looser, ids[i])
		}
	}
	for r := range rowsB {
		if !rowsT[r] {
			t.Errorf("binary stored %q; text stored something else", r)
		}
	}
	// Where PostgreSQL's input syntax accepts more than the JSON
	// conventions promise (special words like 'yesterday').
	if got := strings.Join(looser, " "); got != `ts="yesterday"` {
		t.Errorf("refused by binary only: %s; want only ts=\"yesterday\"", got)
	}
}
