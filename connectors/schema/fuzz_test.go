package schema

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow/memory"
)

func FuzzParseType(f *testing.F) {
	for _, s := range []string{"int64", "decimal128(12,2)", "timestamp[us, UTC]", "list<list<json>>",
		`struct<a: uuid, "b\"c": date32>`, "fixed_size_binary(16)", "time64[ns]", "struct<>", "list<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dt, err := ParseType(s)
		if err != nil {
			return
		}
		name, err := TypeName(dt)
		if err != nil {
			t.Fatalf("parsed %q into %s but cannot name it: %v", s, dt, err)
		}
		if _, err := ParseType(name); err != nil {
			t.Fatalf("TypeName gave %q which does not parse: %v", name, err)
		}
	})
}

func FuzzUnmarshalSchema(f *testing.F) {
	f.Add([]byte(`{"fields":[{"name":"id","type":"int64"},{"name":"t","type":"list<decimal128(5,1)>","nullable":true}]}`))
	f.Add([]byte(`{"fields":[],"metadata":{"a":"b"}}`))
	f.Add([]byte(`{"fields":[{"name":"x","type":"struct<a: json>","metadata":{"k":"v"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := UnmarshalSchema(data)
		if err != nil {
			return
		}
		if _, err := MarshalSchema(s); err != nil {
			t.Fatalf("decoded schema does not encode: %v", err)
		}
	})
}

// FuzzAppendJSON feeds arbitrary rows to a builder of every type: a row is
// either refused whole or appended, and an appended row converts back to JSON
// that appends again to the same JSON.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte(richRow))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"fxxxx":1e3,"fxxxxxxxxxxxx":-0.5}`))
	f.Add([]byte(`{"fxxxxxxxxxxxxxxxxxxxxxx":{"a":null,"b c":[]}}`))
	f.Add([]byte(`{"f":"true","fxxxxxxxxxxxxx":1700000000000}`))
	f.Fuzz(func(t *testing.T, row []byte) {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		defer mem.AssertSize(t, 0)
		rb := NewRecordBuilder(mem, richSchema(t))
		defer rb.Release()
		if err := rb.AppendJSON(row); err != nil {
			if rb.Len() != 0 {
				t.Fatalf("refused row appended something")
			}
			return
		}
		rec := rb.NewRecord()
		defer rec.Release()
		first, err := RowJSON(nil, rec, 0)
		if err != nil {
			t.Fatalf("RowJSON: %v", err)
		}
		if err := rb.AppendJSON(first); err != nil {
			t.Fatalf("own output %s refused: %v", first, err)
		}
		rec2 := rb.NewRecord()
		defer rec2.Release()
		second, _ := RowJSON(nil, rec2, 0)
		if string(first) != string(second) {
			t.Fatalf("not a fixed point:\n%s\n%s", first, second)
		}
	})
}
