package file

import (
	"strings"
	"testing"
)

// TestJSONLinesDecode: the source keeps a valid line as it is, takes the
// key from key.field (the last repeat wins; strings unquoted), and says
// where a bad line is wrong.
func TestJSONLinesDecode(t *testing.T) {
	d := &decoder{format: FormatJSON, keyField: "id"}
	for _, tc := range []struct{ in, value, key, err string }{
		{in: ` {"id":"a\u00e9","v":1} `, value: `{"id":"a\u00e9","v":1}`, key: "aé"},
		{in: `{"id":1,"i\u0064":[2]}`, value: `{"id":1,"i\u0064":[2]}`, key: "[2]"},
		{in: `{"id":null}`, value: `{"id":null}`},
		{in: `{"v":1}`, value: `{"v":1}`},
		{in: `[1,2]`, err: `key.field "id": value is not a JSON object`},
		{in: `{"id":1,}`, err: "invalid JSON at byte 8: expected a member name"},
	} {
		got, err := d.decode([]byte(tc.in), false)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("decode(%s): err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got.value) != tc.value || string(got.key) != tc.key {
			t.Errorf("decode(%s) = value %s key %q, %v; want %s, %q", tc.in, got.value, got.key, err, tc.value, tc.key)
		}
	}
}

// TestJSONLinesEncode: the sink writes a valid value as it is, on one
// line: line breaks between tokens are removed, escaped ones inside strings
// kept; an invalid value is refused with what is wrong.
func TestJSONLinesEncode(t *testing.T) {
	s := &Sink{format: FormatJSON}
	for _, tc := range []struct{ in, out, err string }{
		{in: ` {"a":"x\ny"} `, out: `{"a":"x\ny"}`},
		{in: "{\n  \"a\": [1,\r\n 2]\n}\n", out: `{"a":[1,2]}`},
		{in: `{"a":01}`, err: "value is not valid JSON: invalid JSON at byte 6"},
		{in: "\"a\nb\"", err: "control character in string"},
	} {
		got, err := s.encode([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("encode(%q): err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.out {
			t.Errorf("encode(%q) = %q, %v; want %q", tc.in, got, err, tc.out)
		}
	}
}
