package postgres

import (
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestTextConversions(t *testing.T) {
	for _, tc := range []struct {
		oid, elem uint32
		in, want  string
	}{
		{pgtype.BoolOID, 0, "t", "true"},
		{pgtype.Int8OID, 0, "-42", "-42"},
		{pgtype.Float8OID, 0, "1.5e+300", "1.5e+300"},
		{pgtype.Float4OID, 0, "-Infinity", `"-Infinity"`},
		{pgtype.NumericOID, 0, "12.340", `"12.340"`},
		{pgtype.ByteaOID, 0, `\x00ff`, `"AP8="`},
		{pgtype.TimestamptzOID, 0, "2024-02-29 23:59:59.5+00", `"2024-02-29T23:59:59.5Z"`},
		{pgtype.TimestamptzOID, 0, "2024-02-29 23:59:59+05:30", `"2024-02-29T18:29:59Z"`},
		{pgtype.TimestamptzOID, 0, "infinity", `"infinity"`},
		{pgtype.TimestampOID, 0, "2024-02-29 10:00:00", `"2024-02-29T10:00:00"`},
		{pgtype.JSONBOID, 0, `{"a": [1]}`, `{"a": [1]}`},
		{pgtype.TextOID, 0, "a\"b\\c\n\x01", `"a\"b\\c\n\u0001"`},
		{pgtype.Int4ArrayOID, pgtype.Int4OID, "{1,NULL,-3}", "[1,null,-3]"},
		{pgtype.TextArrayOID, pgtype.TextOID, `{"a b","c,d","e\"f",NULL,"",NULL_}`, `["a b","c,d","e\"f",null,"","NULL_"]`},
		{pgtype.Int4ArrayOID, pgtype.Int4OID, "{{1,2},{3,4}}", "[[1,2],[3,4]]"},
		{pgtype.Int4ArrayOID, pgtype.Int4OID, "[0:1]={7,8}", "[7,8]"},
		{pgtype.Int4ArrayOID, pgtype.Int4OID, "{}", "[]"},
	} {
		got, err := textConvFor(tc.oid, tc.elem, ',')(nil, []byte(tc.in))
		if err != nil {
			t.Errorf("%d %q: %v", tc.oid, tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%d %q: got %s, want %s", tc.oid, tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{"{1,2", "{1,{2}}x", `{"a}`, "{,}", "1,2}", "{{{{{{{1}}}}}}}"} {
		if got, err := textConvFor(pgtype.Int4ArrayOID, pgtype.Int4OID, ',')(nil, []byte(bad)); err == nil {
			t.Errorf("array %q accepted as %s", bad, got)
		}
	}
}

// FuzzTextValue: any bytes, read as the text output of any type, either
// convert to valid JSON or fail with an error; nothing panics.
func FuzzTextValue(f *testing.F) {
	for _, s := range []string{"{1,2,NULL}", `{"a\"b",c}`, "{{1},{2}}", "[1:2]={a,b}", `\x00ff`, "t",
		"2024-01-01 00:00:00+00", "NaN", "{", "}", `{"\`, "", "{{{{{{{{1}}}}}}}}"} {
		f.Add([]byte(s))
	}
	convs := []textConv{
		textConvFor(pgtype.TextArrayOID, pgtype.TextOID, ','),
		textConvFor(pgtype.Int4ArrayOID, pgtype.Int4OID, ','),
		textConvFor(pgtype.JSONBArrayOID, pgtype.JSONBOID, ','),
		textConvFor(1020, 603, ';'),
		textConvFor(pgtype.ByteaOID, 0, 0),
		textConvFor(pgtype.TimestamptzOID, 0, 0),
		textConvFor(pgtype.TimestampOID, 0, 0),
		textConvFor(pgtype.Float8OID, 0, 0),
		textConvFor(pgtype.BoolOID, 0, 0),
		textConvFor(pgtype.Int8OID, 0, 0),
		textConvFor(pgtype.TextOID, 0, 0),
		textConvFor(pgtype.JSONOID, 0, 0),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for i, c := range convs {
			out, err := c(nil, data)
			if err == nil && !json.Valid(out) {
				t.Fatalf("conv %d: %q gave invalid JSON %q", i, data, out)
			}
		}
	})
}
