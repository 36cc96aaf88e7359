package postgres

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func compact(t *testing.T, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

func TestParseJSON(t *testing.T) {
	v, err := parseObject([]byte(` { "a" : 1 , "b\u00e9" : [1, {"x": "]"}, "s\"" ], "a": null, "c": {"d": [[]]} } `))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Lookup("a"); got == nil || got.Kind() != kNull {
		t.Fatalf("a = %v, want the last duplicate (null)", got)
	}
	arr := v.Lookup("bé")
	if arr == nil || arr.Kind() != kArray {
		t.Fatalf("bé = %v", arr)
	}
	var els []string
	arr.Array(func(el *jvalue) bool { els = append(els, el.JSON()); return true })
	if len(els) != 3 || els[1] != `{"x": "]"}` || els[2] != `"s\""` {
		t.Fatalf("elements %q", els)
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `-`, `"\x"`, "\"\x01\"", `tru`, `{"a":1}x`, `{'a':1}`, `NaN`} {
		if _, err := parseJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParseJSON checks the sink's JSON scanner against encoding/json: the
// same documents are valid, and an object's fields (last duplicate wins)
// and an array's elements are the same.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,2,{"c":"d"}],"e":"\u00e9\ud83d\ude00","a":2}`, `[1,"2",[3],{"4":5}]`,
		`{"":null}`, `"x"`, `-0.5e+10`, `{"a":"\ud800"}`, `[[[[]]]]`, `{"a" :	true }`, `{"\u0000":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := checkNesting(data, MaxJSONDepth-1); err != nil {
			return // deeper than the sink accepts; encoding/json allows more
		}
		v, err := parseJSON(data)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("%q: parseJSON error %v, json.Valid %v", data, err, json.Valid(data))
		}
		if err != nil || !utf8.Valid(data) {
			return
		}
		switch v.Kind() {
		case kObject:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			v.Object(func(k string, _ *jvalue) bool { seen[k] = true; return true })
			if len(seen) != len(m) {
				t.Fatalf("%q: %d distinct fields, encoding/json has %d", data, len(seen), len(m))
			}
			for k, raw := range m {
				got := v.Lookup(k)
				if got == nil || compact(t, got.JSON()) != compact(t, string(raw)) {
					t.Fatalf("%q: field %q = %v, encoding/json has %s", data, k, got, raw)
				}
			}
		case kArray:
			var a []json.RawMessage
			if err := json.Unmarshal(data, &a); err != nil {
				t.Fatal(err)
			}
			i := 0
			v.Array(func(el *jvalue) bool {
				if i >= len(a) || compact(t, el.JSON()) != compact(t, string(a[i])) || kindOf(a[i][0]) != el.Kind() {
					t.Fatalf("%q: element %d = %q", data, i, el.JSON())
				}
				i++
				return true
			})
			if i != len(a) {
				t.Fatalf("%q: %d elements, encoding/json has %d", data, i, len(a))
			}
		case kString:
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatal(err)
			}
			if got := unquote(v); got != s {
				t.Fatalf("%q: unquoted %q, encoding/json %q", data, got, s)
			}
		}
	})
}

// checkNesting reports whether b nests deeper than max (brackets outside
// strings).
func checkNesting(b []byte, max int) error {
	depth, in := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && (c == '[' || c == '{'):
			if depth++; depth > max {
				return errTooDeep
			}
		case !in && (c == ']' || c == '}'):
			depth--
		}
	}
	return nil
}

var errTooDeep = bytes.ErrTooLarge
