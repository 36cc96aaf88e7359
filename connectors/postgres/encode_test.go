package postgres

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

func TestEncodeCopyText(t *testing.T) {
	text := encoderFor(typeInfo{OID: pgtype.TextOID})
	jsonb := encoderFor(typeInfo{OID: pgtype.JSONBOID})
	bytea := encoderFor(typeInfo{OID: pgtype.ByteaOID})
	ts := encoderFor(typeInfo{OID: pgtype.TimestamptzOID})
	date := encoderFor(typeInfo{OID: pgtype.DateOID})
	boolean := encoderFor(typeInfo{OID: pgtype.BoolOID})
	textArr := encoderFor(typeInfo{OID: pgtype.TextArrayOID, Category: 'A', Elem: pgtype.TextOID, ElemName: "text", ElemCat: 'S'})
	intArr := encoderFor(typeInfo{OID: pgtype.Int8ArrayOID, Category: 'A', Elem: pgtype.Int8OID, ElemName: "int8", ElemCat: 'N'})
	boxArr := encoderFor(typeInfo{OID: 1020, Category: 'A', Elem: 603, ElemName: "box", ElemCat: 'G'})
	for _, tc := range []struct {
		name string
		enc  encoder
		json string
		want string
	}{
		{"null", text, `null`, `\N`},
		{"string", text, `"plain"`, `plain`},
		{"escapes", text, `"a\tb\nc\rd\\e\u00e9"`, `a\tb\nc\rd\\eé`},
		{"number as text", text, `12.50`, `12.50`},
		{"object into text", text, `{"a":1}`, `{"a":1}`},
		{"jsonb keeps JSON", jsonb, `"str"`, `"str"`},
		{"jsonb object", jsonb, `{"a":"x\ty"}`, `{"a":"x\\ty"}`},
		{"bytea", bytea, `"AAEC/w=="`, `\\x000102ff`},
		{"bytea unpadded", bytea, `"AAEC/w"`, `\\x000102ff`},
		{"timestamp string", ts, `"2024-01-02T03:04:05Z"`, `2024-01-02T03:04:05Z`},
		{"timestamp epoch ms", ts, `1704164645123`, `2024-01-02 03:04:05.123Z`},
		{"date days", date, `19782`, `2024-02-29`},
		{"date string", date, `"2024-02-29"`, `2024-02-29`},
		{"bool", boolean, `true`, `t`},
		{"bool string", boolean, `"yes"`, `yes`},
		{"text array", textArr, `["a",null,"b\"c","d\\e","x\ty"]`, `{"a",NULL,"b\\"c","d\\\\e","x\ty"}`},
		{"int array nested", intArr, `[[1,2],[3,4]]`, `{{"1","2"},{"3","4"}}`},
		{"empty array", intArr, `[]`, `{}`},
		{"array literal string", intArr, `"{1,2}"`, `{1,2}`},
		{"box array delimiter", boxArr, `["(1,1),(0,0)","(2,2),(1,1)"]`, `{"(1,1),(0,0)";"(2,2),(1,1)"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := parseJSON([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			var scratch []byte
			got, err := tc.enc.appendCopy(nil, v, &scratch)
			if err != nil {
				t.Fatalf("appendCopy: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		enc  encoder
		json string
	}{
		{bytea, `"not base64!"`},
		{bytea, `12`},
		{ts, `1e400`},
		{date, `1.5`},
		{intArr, `[[[[[[[[1]]]]]]]]`},
	} {
		v, err := parseJSON([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		var scratch []byte
		if got, err := tc.enc.appendCopy(nil, v, &scratch); err == nil {
			t.Errorf("%s: want an error, got %q", tc.json, got)
		}
	}
}

func TestInferJSON(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{`1`, `-2`}, "bigint"},
		{[]string{`1`, `2.5`}, "double precision"},
		{[]string{`18446744073709551615`}, "numeric"},
		{[]string{`1`, `18446744073709551615`}, "numeric"},
		{[]string{`null`, `"x"`}, "text"},
		{[]string{`"x"`, `1`}, "jsonb"},
		{[]string{`true`}, "boolean"},
		{[]string{`{"a":1}`}, "jsonb"},
		{[]string{`[1,2]`, `[3.5]`}, "double precision[]"},
		{[]string{`[]`, `["a"]`}, "text[]"},
		{[]string{`[]`}, "jsonb"},
		{[]string{`[[1]]`}, "jsonb"},
		{[]string{`[1,"a"]`}, "jsonb"},
		{[]string{`[1]`, `1`}, "jsonb"},
	} {
		jt := jNone
		for _, s := range tc.values {
			v, err := parseJSON([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			jt = mergeJ(jt, inferJSON(v))
		}
		if got, _ := jt.pgType(); got != tc.want {
			t.Errorf("%v: inferred %q, want %q", tc.values, got, tc.want)
		}
	}
	if _, ok := jNone.pgType(); ok {
		t.Error("only nulls should give no column")
	}
}

func TestParseJSONDepthLimit(t *testing.T) {
	deep := bytes.Repeat([]byte("["), MaxJSONDepth+1)
	if _, err := parseJSON(deep); err == nil {
		t.Fatal("deeply nested JSON accepted")
	}
	inString := append([]byte(`{"a":"`), append(bytes.Repeat([]byte("["), 1000), `"}`...)...)
	if _, err := parseObject(inString); err != nil {
		t.Fatalf("brackets inside a string counted as nesting: %v", err)
	}
}

// FuzzRecordValue feeds arbitrary record values through everything the sink
// does with untrusted bytes before they reach the server: parsing, type
// inference and COPY encoding for every kind of column. Nothing may panic,
// and the COPY text of a field never contains a raw tab, newline or CR
// (which would shift columns or rows).
func FuzzRecordValue(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":"x","c":null,"d":[1,2],"e":{"f":true}}`,
		`{"s":"tab\there\nnl","arr":[["a"],["b"]],"bin":"AAEC"}`,
		`{"deep":[[[[[[[[[[1]]]]]]]]]]}`,
		`{"n":1e999,"m":-0,"u":"\ud800"}`,
		`{"n":"1e-9999999","m":"-0.000e+5","u":"{123e4567-e89b-12d3-a456-426614174000}","t":"24:00"}`,
		`[1,2]`, `"str"`, `nul`, `{"a":`, `{}`, ``,
	} {
		f.Add([]byte(seed))
	}
	encs := []encoder{
		encoderFor(typeInfo{OID: pgtype.TextOID}),
		encoderFor(typeInfo{OID: pgtype.JSONBOID}),
		encoderFor(typeInfo{OID: pgtype.ByteaOID}),
		encoderFor(typeInfo{OID: pgtype.TimestamptzOID}),
		encoderFor(typeInfo{OID: pgtype.DateOID}),
		encoderFor(typeInfo{OID: pgtype.BoolOID}),
		encoderFor(typeInfo{OID: pgtype.TextArrayOID, Category: 'A', Elem: pgtype.TextOID}),
		encoderFor(typeInfo{OID: pgtype.ByteaArrayOID, Category: 'A', Elem: pgtype.ByteaOID}),
		encoderFor(typeInfo{OID: pgtype.JSONBArrayOID, Category: 'A', Elem: pgtype.JSONBOID}),
	}
	binOIDs := []uint32{pgtype.BoolOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.Float4OID,
		pgtype.Float8OID, pgtype.TextOID, pgtype.JSONOID, pgtype.JSONBOID, pgtype.TimestamptzOID,
		pgtype.TimestampOID, pgtype.DateOID, pgtype.TimeOID, pgtype.UUIDOID, pgtype.ByteaOID, pgtype.NumericOID}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseObject(data)
		if err != nil {
			return
		}
		var scratch []byte
		v.Object(func(_ string, fv *jvalue) bool {
			_ = inferJSON(fv)
			for _, enc := range encs {
				buf, err := enc.appendCopy(nil, fv, &scratch)
				if err == nil && bytes.ContainsAny(buf, "\t\n\r") {
					t.Fatalf("raw control character in COPY field %q", buf)
				}
				_, _, _ = enc.text(fv)
			}
			for _, oid := range binOIDs {
				_, _ = binaryEncoderFor(oid)(nil, fv)
			}
			return true
		})
	})
}
