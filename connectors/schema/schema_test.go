package schema

import (
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"
)

func mustType(t testing.TB, s string) arrow.DataType {
	t.Helper()
	dt, err := ParseType(s)
	if err != nil {
		t.Fatal(err)
	}
	return dt
}

// richSchema has one field of every supported type.
func richSchema(t testing.TB) *arrow.Schema {
	names := []string{
		"bool", "int8", "int16", "int32", "int64", "uint8", "uint64", "float32", "float64",
		"string", "binary", "fixed_size_binary(3)", "decimal128(12,2)", "timestamp[us, UTC]",
		"timestamp[us]", "timestamp[ns, UTC]", "date32", "time64[us]", "uuid", "json",
		"list<int64>", "list<list<string>>", `struct<a: int64, "b c": list<decimal128(5,1)>>`,
	}
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: "f" + strings.Repeat("x", i), Type: mustType(t, n), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

func TestTypeNamesRoundTrip(t *testing.T) {
	for _, f := range richSchema(t).Fields() {
		name, err := TypeName(f.Type)
		if err != nil {
			t.Fatalf("%s: %v", f.Type, err)
		}
		back := mustType(t, name)
		if !arrow.TypeEqual(back, f.Type) {
			t.Errorf("%s → %q → %s", f.Type, name, back)
		}
	}
	for _, bad := range []string{"", "int", "decimal128(40,2)", "decimal128(5,6)", "list<", "list<int64",
		"timestamp[xs]", "timestamp[us, Mars/Olympus]", "struct<a int64>", "struct<a: int64, a: bool>", "int64 trailing"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q) accepted", bad)
		}
	}
	if _, err := ParseType(strings.Repeat("list<", 100) + "int64" + strings.Repeat(">", 100)); err == nil {
		t.Error("deep nesting accepted")
	}
}

func TestSchemaWireForm(t *testing.T) {
	s := richSchema(t)
	md := arrow.MetadataFrom(map[string]string{"source": "pg"})
	s = arrow.NewSchema(append(s.Fields(), arrow.Field{Name: "id", Type: arrow.PrimitiveTypes.Int64,
		Metadata: arrow.MetadataFrom(map[string]string{"pk": "1"})}), &md)
	b, err := MarshalSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(s) {
		t.Fatalf("wire round trip changed schema:\n%s\n%s", s, back)
	}
	if got, _ := back.Field(back.NumFields() - 1).Metadata.GetValue("pk"); got != "1" {
		t.Errorf("field metadata lost: %q", got)
	}
	for _, bad := range []string{`{`, `{"fields":[{"name":"","type":"int64"}]}`,
		`{"fields":[{"name":"a","type":"int64"},{"name":"a","type":"bool"}]}`,
		`{"fields":[{"name":"a","type":"nope"}]}`} {
		if _, err := UnmarshalSchema([]byte(bad)); err == nil {
			t.Errorf("UnmarshalSchema(%s) accepted", bad)
		}
	}
}

const richRow = `{"f":true,"fx":-128,"fxx":32767,"fxxx":-5,"fxxxx":9007199254740993,"fxxxxx":255,
"fxxxxxx":18446744073709551615,"fxxxxxxx":1.5,"fxxxxxxxx":"NaN","fxxxxxxxxx":"héllo \"q\"",
"fxxxxxxxxxx":"AAEC","fxxxxxxxxxxx":"AQID","fxxxxxxxxxxxx":"-1234567890.25",
"fxxxxxxxxxxxxx":"2024-02-29T23:59:59.123456Z","fxxxxxxxxxxxxxx":"2024-01-02T03:04:05",
"fxxxxxxxxxxxxxxx":"2024-01-02T03:04:05.123456789Z","fxxxxxxxxxxxxxxxx":"1999-12-31",
"fxxxxxxxxxxxxxxxxx":"13:14:15.5","fxxxxxxxxxxxxxxxxxx":"123e4567-e89b-12d3-a456-426614174000",
"fxxxxxxxxxxxxxxxxxxx":{"a":[1,{"b":null}]},"fxxxxxxxxxxxxxxxxxxxx":[1,null,3],
"fxxxxxxxxxxxxxxxxxxxxx":[["a"],[],null],"fxxxxxxxxxxxxxxxxxxxxxx":{"a":7,"b c":["1.5",null]}}`

func TestJSONArrowRoundTrip(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := richSchema(t)
	rb := NewRecordBuilder(mem, s)
	defer rb.Release()
	if err := rb.AppendJSON([]byte(richRow)); err != nil {
		t.Fatal(err)
	}
	if err := rb.AppendJSON([]byte(`{}`)); err != nil { // all null
		t.Fatal(err)
	}
	rec := rb.NewRecord()
	defer rec.Release()
	rows, err := RecordJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"f":true,"fx":-128,"fxx":32767,"fxxx":-5,"fxxxx":9007199254740993,"fxxxxx":255,` +
		`"fxxxxxx":18446744073709551615,"fxxxxxxx":1.5,"fxxxxxxxx":"NaN","fxxxxxxxxx":"héllo \"q\"",` +
		`"fxxxxxxxxxx":"AAEC","fxxxxxxxxxxx":"AQID","fxxxxxxxxxxxx":"-1234567890.25",` +
		`"fxxxxxxxxxxxxx":"2024-02-29T23:59:59.123456Z","fxxxxxxxxxxxxxx":"2024-01-02T03:04:05",` +
		`"fxxxxxxxxxxxxxxx":"2024-01-02T03:04:05.123456789Z","fxxxxxxxxxxxxxxxx":"1999-12-31",` +
		`"fxxxxxxxxxxxxxxxxx":"13:14:15.5","fxxxxxxxxxxxxxxxxxx":"123e4567-e89b-12d3-a456-426614174000",` +
		`"fxxxxxxxxxxxxxxxxxxx":{"a":[1,{"b":null}]},"fxxxxxxxxxxxxxxxxxxxx":[1,null,3],` +
		`"fxxxxxxxxxxxxxxxxxxxxx":[["a"],[],null],"fxxxxxxxxxxxxxxxxxxxxxx":{"a":7,"b c":["1.5",null]}}`
	if string(rows[0]) != want {
		t.Errorf("row 0:\n got %s\nwant %s", rows[0], want)
	}
	if strings.Count(string(rows[1]), "null") != s.NumFields() {
		t.Errorf("row 1 should be all null: %s", rows[1])
	}
	// And back again: the JSON form is a fixed point.
	rb.AppendJSON(rows[0])
	rec2 := rb.NewRecord()
	defer rec2.Release()
	again, _ := RowJSON(nil, rec2, 0)
	if string(again) != want {
		t.Errorf("second round trip differs:\n%s", again)
	}
}

func TestAppendRefusesBadRowsWhole(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	s := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "amount", Type: mustType(t, "decimal128(5,2)"), Nullable: true},
		{Name: "tags", Type: mustType(t, "list<int32>"), Nullable: true},
	}, nil)
	rb := NewRecordBuilder(mem, s)
	defer rb.Release()
	cases := map[string]string{
		`{"id":1,"amount":"1234.5"}`:    `"amount": -1234.5`, // placeholder replaced below
		`{"amount":"1"}`:                `"id": null for a non-nullable field`,
		`{"id":"x"}`:                    `"id": expected an integer`,
		`{"id":1,"amount":"12345.67"}`:  `"amount": 12345.67 does not fit decimal128(5,2)`,
		`{"id":1,"tags":[1,2,"three"]}`: `"tags": [2]: expected an integer`,
		`{"id":1,"tags":[3000000000]}`:  `out of range`,
		`[1,2]`:                         `not a JSON object`,
		`{"id":1`:                       `not valid JSON`,
	}
	delete(cases, `{"id":1,"amount":"1234.5"}`)
	for row, wantErr := range cases {
		err := rb.AppendJSON([]byte(row))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("AppendJSON(%s) = %v, want error containing %q", row, err, wantErr)
		}
	}
	if rb.Len() != 0 {
		t.Fatalf("refused rows left %d rows behind", rb.Len())
	}
	if err := rb.AppendJSON([]byte(`{"id":7,"amount":99.999,"tags":[1]}`)); err != nil {
		t.Fatal(err)
	}
	rec := rb.NewRecord()
	defer rec.Release()
	if rec.NumRows() != 1 || rec.Column(0).Len() != 1 || rec.Column(2).Len() != 1 {
		t.Fatalf("columns out of step after refusals: rows=%d", rec.NumRows())
	}
	got, _ := RowJSON(nil, rec, 0)
	if string(got) != `{"id":7,"amount":"100.00","tags":[1]}` {
		t.Errorf("got %s (99.999 rounds half away from zero to 100.00)", got)
	}
}

func TestDecimal(t *testing.T) {
	cases := []struct {
		in         string
		prec, sc   int32
		want, fail string
	}{
		{in: "0", prec: 5, sc: 2, want: "0.00"},
		{in: "-0.005", prec: 5, sc: 2, want: "-0.01"},
		{in: "0.004", prec: 5, sc: 2, want: "0.00"},
		{in: "1.5e2", prec: 5, sc: 2, want: "150.00"},
		{in: "12345678901234567890123456789012345678", prec: 38, sc: 0, want: "12345678901234567890123456789012345678"},
		{in: "1e-9999", prec: 5, sc: 2, want: "0.00"},
		{in: "1e38", prec: 38, sc: 0, fail: "does not fit"},
		{in: "1e9999", prec: 38, sc: 0, fail: "does not fit"},
		{in: "1.2.3", prec: 5, sc: 2, fail: "not a decimal"},
		{in: "Inf", prec: 5, sc: 2, fail: "not a decimal"},
		{in: ".", prec: 5, sc: 2, fail: "not a decimal"},
	}
	for _, c := range cases {
		n, err := ParseDecimal(c.in, c.prec, c.sc)
		if c.fail != "" {
			if err == nil || !strings.Contains(err.Error(), c.fail) {
				t.Errorf("ParseDecimal(%q) = %v, want error %q", c.in, err, c.fail)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDecimal(%q): %v", c.in, err)
			continue
		}
		if got := FormatDecimal(n, c.sc); got != c.want {
			t.Errorf("ParseDecimal(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestInferAndMerge(t *testing.T) {
	rows := [][]byte{
		[]byte(`{"id":1,"temp":20,"name":"a","tags":["x"],"meta":{"k":1},"at":"2024-01-01T00:00:00Z","n":null}`),
		[]byte(`{"id":2,"temp":20.5,"name":null,"tags":[],"at":"2024-01-01T00:00:01+02:00","extra":true}`),
		[]byte(`{"id":3,"mixed":1}`),
		[]byte(`{"mixed":"x"}`),
	}
	in := Inferrer{Timestamps: true}
	for _, r := range rows {
		if err := in.Observe(r); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]string{}
	var order []string
	for _, f := range in.Schema().Fields() {
		got[f.Name], _ = TypeName(f.Type)
		order = append(order, f.Name)
	}
	want := map[string]string{"id": "int64", "temp": "float64", "name": "string", "tags": "list<string>",
		"meta": "json", "at": "timestamp[us, UTC]", "n": "string", "extra": "bool", "mixed": "json"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: inferred %s, want %s", k, got[k], v)
		}
	}
	if strings.Join(order, ",") != "id,temp,name,tags,meta,at,n,extra,mixed" {
		t.Errorf("field order %v", order)
	}
	// Every observed row converts under the inferred schema.
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rb := NewRecordBuilder(mem, in.Schema())
	defer rb.Release()
	for _, r := range rows {
		if err := rb.AppendJSON(r); err != nil {
			t.Errorf("inferred schema refuses its own row %s: %v", r, err)
		}
	}
	rb.NewRecord().Release()

	a := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int32}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := arrow.NewSchema([]arrow.Field{{Name: "v", Type: arrow.PrimitiveTypes.Float64}, {Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "new", Type: arrow.BinaryTypes.String}}, nil)
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "v", Type: arrow.PrimitiveTypes.Float64}, {Name: "new", Type: arrow.BinaryTypes.String, Nullable: true}}, nil).String() {
		t.Errorf("merge = %s", m)
	}
	c := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.BinaryTypes.String}}, nil)
	if _, err := Merge(a, c); !errors.Is(err, ErrIncompatible) {
		t.Errorf("merge int32 with string: %v", err)
	}
}
