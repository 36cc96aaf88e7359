package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestDecodeMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"a":1,"b":-2.5e3,"c":"x\"y\\z\u00e9\ud83d\ude00","d":[1,{"e":null}],"f":true,"g":false}`,
		` { "sensor_id" : "s-1" , "t" : 0.000001 , "n" : 12345678901234567890 } `,
		`{"a":"\ud800x"}`,
		`{"a":"\ud800\u0041"}`,
		`{"dup":1,"dup":2}`,
		`{"s":"\u2028 \/ é"}`,
		`{"z":-0}`,
	} {
		got, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("Decode(%s): %v", in, err)
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%s) = %#v, want %#v", in, got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":"x}`, `{"a":"\x"}`, `{"a":1} x`, "{\"a\":\"\x01\"}", `{"a":1e999}`} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrSyntax) {
			t.Errorf("Decode(%q) err = %v, want ErrSyntax", in, err)
		}
	}
	deep := bytes.Repeat([]byte(`{"a":`), MaxDepth+1)
	if _, err := Decode(deep); !errors.Is(err, ErrSyntax) {
		t.Errorf("deep nesting: err = %v", err)
	}
}

func TestEncodeOrderAndRoundTrip(t *testing.T) {
	ts := time.Date(2026, 11, 22, 0, 1, 0, 0, time.UTC)
	m := map[string]any{"z": 1.5, "key": "s-1", "window_start": ts, "n": int64(3), "a": []any{"x", nil, true}, "nan": nanValue()}
	b, err := AppendJSON(nil, m, []string{"key", "window_start", "n"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"s-1","window_start":"2026-11-22T00:01:00Z","n":3,"a":["x",null,true],"nan":null,"z":1.5}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	c := NewCodec([]Field{{"key", String}, {"window_start", Time}, {"n", Int64}})
	back, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if back["window_start"] != ts || back["n"] != int64(3) {
		t.Errorf("round trip: %#v", back)
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestConvert(t *testing.T) {
	cases := []struct {
		v    any
		t    Type
		want any
		err  bool
	}{
		{3.0, Int64, int64(3), false},
		{3.5, Int64, nil, true},
		{"42", Int64, int64(42), false},
		{"x", Float64, nil, true},
		{1700000000000.0, Time, time.UnixMilli(1700000000000).UTC(), false},
		{"2026-11-22T00:00:00.5Z", Time, time.Date(2026, 11, 22, 0, 0, 0, 5e8, time.UTC), false},
		{"yesterday", Time, nil, true},
		{true, String, "true", false},
		{map[string]any{}, Bool, nil, true},
	}
	for _, c := range cases {
		got, err := Convert(c.v, c.t)
		if (err != nil) != c.err || (!c.err && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("Convert(%v, %v) = %v, %v; want %v (err %v)", c.v, c.t, got, err, c.want, c.err)
		}
	}
}

// FuzzDecodeEncode: what Decode accepts re-encodes (AppendJSON) to JSON
// that decodes to the same map, and a names table changes nothing. (That
// Decode matches encoding/json is checked once, on the shared decoder, by
// internal/jsonscan's FuzzMatchesEncodingJSON.)
func FuzzDecodeEncode(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,2,{"b":"c"}],"d":null}`, `{"s":"\ud83d\ude00\n"}`, `{"n":-1.5e-7}`, `{"a":"\xff"}`, `{"a":"\ud800\ud800"}`,
		`{"a":1,"sensor_id":"x","a\u0062":2,"b":[{"a":null}]}`} {
		f.Add([]byte(s))
	}
	names := map[string]string{"a": "a", "b": "b", "sensor_id": "sensor_id", "": ""}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data)
		named, nerr := decode(data, names)
		if (err == nil) != (nerr == nil) || !reflect.DeepEqual(got, named) {
			t.Fatalf("decode(%q) with names = %v, %v; without = %v, %v", data, named, nerr, got, err)
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Decode(%q) error %v is not ErrSyntax", data, err)
			}
			return
		}
		enc, err := AppendJSON(nil, got, nil)
		if err != nil {
			t.Fatalf("encode %#v: %v", got, err)
		}
		again, err := Decode(enc)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("re-decode of %s: %#v, %v", enc, again, err)
		}
	})
}
