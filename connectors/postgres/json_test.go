package postgres

import (
	"testing"
)

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

// TestUnquoteKeepsBytesForPostgreSQL: a string without escapes reaches
// PostgreSQL as its own bytes (invalid UTF-8 included, for the server to
// refuse); escapes are decoded as encoding/json decodes them.
func TestUnquoteKeepsBytesForPostgreSQL(t *testing.T) {
	v, err := parseObject([]byte("{\"raw\":\"a\xffb\",\"esc\":\"x\\n\\ud83d\\ude00\\u00e9\"}"))
	if err != nil {
		t.Fatal(err)
	}
	if got := unquote(v.Lookup("raw")); got != "a\xffb" {
		t.Errorf("raw = %q", got)
	}
	if got := unquote(v.Lookup("esc")); got != "x\n\U0001F600é" {
		t.Errorf("esc = %q", got)
	}
}
