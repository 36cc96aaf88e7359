package jsonscan

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// seeds covers the grammar's corners; the fuzz test runs them in every
// `go test`.
var seeds = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`,
	`{"id":1,"name":"row 1","amount":"1.01"}`,
	` {"a": [1, 2, {"b": null}], "c": "\u00e9\n\"\\\/\b\f\r\t"} `,
	"{\n  \"a\": 1\r\n}\n",
	`{"a":1,"b":-2.5e3,"c":"x\"y\\z\u00e9\ud83d\ude00","d":[1,{"e":null}],"f":true,"g":false}`,
	` { "sensor_id" : "s-1" , "t" : 0.000001 , "n" : 12345678901234567890 } `,
	`{"a":"\ud800x"}`, `{"a":"\ud800\u0041"}`, `{"a":"\ud800\ud800"}`, `"\udc00\ud800\udc00"`,
	`{"dup":1,"dup":2}`, `{"\u0061":2,"a":3}`, `{"s":"\u2028 \/ é"}`, `{"z":-0}`,
	`[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `{"a":1 "b":2}`, `}`, `]`, `[}`, `{]`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1.5.5`, `--1`, `1e999`, `-1e999`, `{"a":1e400}`,
	`9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`,
	`18446744073709551615`, `18446744073709551616`, `123456789012345678`, `1234567890123456789`,
	`tru`, `truex`, `nul`, `True`, `"abc`, `"a\x"`, `"\u12"`, `"\u12g4"`, "\"tab\there\"", "\"\x00\"",
	"\"\xff\xfe invalid utf-8\"", "{\"\xff\":1}", `{"a":1}{"b":2}`, `1 2`, `"a" "b"`, "\v1", "1\f",
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

// FuzzMatchesEncodingJSON is the one differential test of this package's
// scanners against encoding/json: the validator accepts exactly what
// encoding/json accepts; the decoder gives the same values (with and
// without a names table); members and elements are the same, in the same
// order; and every string and number inside decodes to the same value.
func FuzzMatchesEncodingJSON(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		valid := json.Valid(data)
		if got := Valid(data); got != valid {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, got, valid)
		}
		if err := Validate(data, MaxDepth); (err == nil) != valid {
			t.Fatalf("Validate(%q) = %v, encoding/json Valid %v", data, err, valid)
		}
		compact, err := ValidateCompact(data, MaxDepth)
		if (err == nil) != valid {
			t.Fatalf("ValidateCompact(%q) = %v, encoding/json Valid %v", data, err, valid)
		}
		if valid {
			var c bytes.Buffer
			if err := json.Compact(&c, data); err != nil || compact != bytes.Equal(c.Bytes(), data) {
				t.Fatalf("ValidateCompact(%q) says compact %v; json.Compact gives %q (%v)", data, compact, c.Bytes(), err)
			}
		}

		var want any
		stdErr := json.Unmarshal(data, &want)
		got, err := (&Decoder{}).Decode(data)
		if (err == nil) != (stdErr == nil) {
			t.Fatalf("Decode(%q) err = %v, encoding/json err = %v", data, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %#v, encoding/json = %#v", data, got, want)
		}
		named, err := (&Decoder{Names: map[string]string{"a": "a", "b": "b", "": "", "id": "id"}}).Decode(data)
		if (err == nil) != (stdErr == nil) || err == nil && !reflect.DeepEqual(named, want) {
			t.Fatalf("Decode with names (%q) = %#v, %v; encoding/json = %#v, %v", data, named, err, want, stdErr)
		}
		if obj, ok := want.(map[string]any); ok && stdErr == nil {
			if m, err := (&Decoder{}).DecodeObject(data); err != nil || !reflect.DeepEqual(m, obj) {
				t.Fatalf("DecodeObject(%q) = %#v, %v", data, m, err)
			}
		}
		if valid {
			checkParts(t, bytes.TrimSpace(data))
		}
	})
}

// checkParts walks a valid document with EachMember and EachElement and
// checks every part against encoding/json.
func checkParts(t *testing.T, doc []byte) {
	t.Helper()
	switch doc[0] {
	case '{':
		var std map[string]json.RawMessage
		if err := json.Unmarshal(doc, &std); err != nil {
			t.Fatalf("encoding/json refused object %q: %v", doc, err)
		}
		got := map[string]string{}
		var order []string
		err := EachMember(doc, MaxDepth, func(key []byte, escaped bool, val []byte) error {
			name, err := Name(key, escaped)
			if err != nil {
				return err
			}
			var want string
			if err := json.Unmarshal(append(append([]byte{'"'}, key...), '"'), &want); err != nil || name != want {
				t.Fatalf("member name %q decoded to %q, encoding/json %q (%v)", key, name, want, err)
			}
			got[name] = string(val)
			order = append(order, string(val))
			checkParts(t, val)
			return nil
		})
		if err != nil {
			t.Fatalf("EachMember(%q): %v", doc, err)
		}
		if len(got) != len(std) {
			t.Fatalf("members %v, encoding/json %v", got, std)
		}
		for k, v := range std {
			if got[k] != string(v) {
				t.Fatalf("member %q = %q, encoding/json %q", k, got[k], v)
			}
		}
		checkOrder(t, doc, order)
	case '[':
		var std []json.RawMessage
		if err := json.Unmarshal(doc, &std); err != nil {
			t.Fatalf("encoding/json refused array %q: %v", doc, err)
		}
		var got []string
		err := EachElement(doc, MaxDepth, func(val []byte) error {
			got = append(got, string(val))
			checkParts(t, val)
			return nil
		})
		if err != nil {
			t.Fatalf("EachElement(%q): %v", doc, err)
		}
		if len(got) != len(std) {
			t.Fatalf("elements %q, encoding/json %q", got, std)
		}
		for i := range std {
			if got[i] != string(std[i]) {
				t.Fatalf("element %d = %q, encoding/json %q", i, got[i], std[i])
			}
		}
	case '"':
		var want string
		if err := json.Unmarshal(doc, &want); err != nil {
			t.Fatalf("encoding/json refused string %q: %v", doc, err)
		}
		if s, err := Unquote(doc); err != nil || s != want {
			t.Fatalf("Unquote(%q) = %q, %v; encoding/json %q", doc, s, err, want)
		}
		if body, ok := Plain(doc); ok && string(body) != want {
			t.Fatalf("Plain(%q) = %q, encoding/json %q", doc, body, want)
		}
	case 't', 'f', 'n':
	default:
		checkNumber(t, doc)
	}
}

// checkOrder checks that the members' values came in document order.
func checkOrder(t *testing.T, doc []byte, vals []string) {
	t.Helper()
	at := 0
	for _, v := range vals {
		i := bytes.Index(doc[at:], []byte(v))
		if i < 0 {
			t.Fatalf("member value %q not found in order in %q", v, doc)
		}
		at += i + len(v)
	}
}

func checkNumber(t *testing.T, raw []byte) {
	t.Helper()
	var f float64
	ferr := json.Unmarshal(raw, &f)
	if got, err := Float(raw); (err == nil) != (ferr == nil) || err == nil && got != f {
		t.Fatalf("Float(%q) = %v, %v; encoding/json %v, %v", raw, got, err, f, ferr)
	}
	var n int64
	nerr := json.Unmarshal(raw, &n)
	if got, ok := Int(raw); ok != (nerr == nil) || ok && got != n {
		t.Fatalf("Int(%q) = %v, %v; encoding/json %v, %v", raw, got, ok, n, nerr)
	}
	var u uint64
	uerr := json.Unmarshal(raw, &u)
	if got, ok := Uint(raw); ok != (uerr == nil) || ok && got != u {
		t.Fatalf("Uint(%q) = %v, %v; encoding/json %v, %v", raw, got, ok, u, uerr)
	}
	if IsInteger(raw) != !bytes.ContainsAny(raw, ".eE") {
		t.Fatalf("IsInteger(%q) wrong", raw)
	}
}
