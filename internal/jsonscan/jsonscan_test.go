package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDepthLimitIsEncodingJSONs(t *testing.T) {
	for _, depth := range []int{MaxDepth, MaxDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			closing := "]"
			if open != "[" {
				closing = "}"
			}
			in := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closing, depth))
			if got, want := Valid(in), json.Valid(in); got != want {
				t.Fatalf("depth %d %s: Valid %v, encoding/json %v", depth, open, got, want)
			}
		}
	}
}

func TestCallerDepthLimits(t *testing.T) {
	nest := func(n int) []byte { return []byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)) }
	for _, tc := range []struct {
		name string
		run  func(doc []byte, max int) error
	}{
		{"Validate", Validate},
		{"EachMember", func(doc []byte, max int) error {
			return EachMember(doc, max, func([]byte, bool, []byte) error { return nil })
		}},
		{"Decoder", func(doc []byte, max int) error { _, err := (&Decoder{MaxDepth: max}).Decode(doc); return err }},
	} {
		if err := tc.run(nest(64), 64); err != nil {
			t.Errorf("%s: 64 levels with a limit of 64: %v", tc.name, err)
		}
		err := tc.run(nest(65), 64)
		if !errors.Is(err, ErrTooDeep) || !errors.Is(err, ErrSyntax) {
			t.Errorf("%s: 65 levels with a limit of 64: err = %v, want ErrTooDeep", tc.name, err)
		}
	}
}

func TestErrorsSayWhatAndWhere(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a":1,}`, "byte 7: expected a member name"},
		{`{"a" 1}`, "byte 5: expected ':'"},
		{`{"a":01}`, "byte 6: expected ',' or '}'"},
		{`[1 2]`, "byte 3: expected ',' or ']'"},
		{`{"a":"x` + "\x01" + `"}`, "byte 7: control character in string"},
		{`{"a":"\q"}`, `byte 6: invalid escape`},
		{`{"a":tru}`, "byte 5: invalid literal"},
		{`{"a":-}`, "byte 5: invalid number"},
		{`{"a":1} x`, "byte 8: data after the value"},
		{`{"a":[1,`, "byte 8: unexpected end of input"},
	} {
		err := Validate([]byte(tc.in), MaxDepth)
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%q) = %v, want an ErrSyntax containing %q", tc.in, err, tc.want)
		}
	}
}

func TestEachMemberKeepsOrderAndRepeats(t *testing.T) {
	var got []string
	err := EachMember([]byte(` { "b" : 1 , "a\u0062" : [ 2 ] , "b" : "x" } `), 3, func(key []byte, escaped bool, val []byte) error {
		name, err := Name(key, escaped)
		got = append(got, name+"="+string(val))
		return err
	})
	if want := []string{"b=1", "ab=[ 2 ]", `b="x"`}; err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("members %q, %v; want %q", got, err, want)
	}
	stop := errors.New("stop")
	if err := EachMember([]byte(`{"a":1,"b":2}`), 1, func([]byte, bool, []byte) error { return stop }); err != stop {
		t.Fatalf("callback error not returned as it is: %v", err)
	}
	if err := EachMember([]byte(`[1]`), 1, nil); !errors.Is(err, ErrSyntax) {
		t.Fatalf("an array is not an object: %v", err)
	}
}

func TestHotPathsAllocateNothing(t *testing.T) {
	doc := []byte(`{"id":1,"tags":["a","b"],"meta":{"fw":"1.2","deep":[[[{"x":-1.5e3}]]]},"s":"caf\u00e9"}`)
	for name, fn := range map[string]func(){
		"Valid": func() { Valid(doc) },
		"EachMember": func() {
			_ = EachMember(doc, 64, func(key []byte, _ bool, val []byte) error { Plain(val); Int(val); return nil })
		},
		"Plain": func() { Plain([]byte(`"plain ascii and é"`)) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}
