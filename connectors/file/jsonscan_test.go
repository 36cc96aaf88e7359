package file

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

var jsonSeeds = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `1.5e+10`, `-12.25E-3`, `true`, `false`, `null`,
	`{"id":1,"name":"row 1","amount":"1.01"}`,
	` {"a": [1, 2, {"b": null}], "c": "\u00e9\n\"\\\/\b\f\r\t"} `,
	"{\n  \"a\": 1\r\n}\n",
	`[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{1:2}`, `[1 2]`, `{"a":1 "b":2}`, `}`, `]`, `[}`, `{]`,
	`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1.5.5`, `--1`,
	`tru`, `truex`, `nul`, `True`, `"abc`, `"a\x"`, `"\u12"`, `"\u12g4"`, "\"tab\there\"", "\"\x00\"",
	"\"\xff\xfe invalid utf-8\"", `{"a":1}{"b":2}`, `1 2`, `"a" "b"`, "\v1", "1\f",
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

func checkScan(t *testing.T, in []byte) {
	t.Helper()
	valid, brk := scanJSON(in)
	if want := json.Valid(in); valid != want {
		t.Fatalf("scanJSON(%q) valid = %v, encoding/json says %v", in, valid, want)
	}
	if want := valid && bytes.ContainsAny(in, "\n\r"); brk != want {
		t.Fatalf("scanJSON(%q) lineBreak = %v, want %v", in, brk, want)
	}
}

func TestScanJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSeeds {
		checkScan(t, []byte(s))
	}
}

func TestScanJSONDepthLimit(t *testing.T) {
	for _, depth := range []int{maxJSONDepth, maxJSONDepth + 1} {
		for _, open := range []string{"[", `{"k":`} {
			closing := "]"
			if open != "[" {
				closing = "}"
			}
			in := []byte(strings.Repeat(open, depth) + "1" + strings.Repeat(closing, depth))
			checkScan(t, in)
		}
	}
}

func TestScanJSONAllocatesNothing(t *testing.T) {
	in := []byte(`{"id":1,"tags":["a","b"],"meta":{"fw":"1.2","deep":[[[{"x":-1.5e3}]]]}}`)
	if n := testing.AllocsPerRun(100, func() { scanJSON(in) }); n != 0 {
		t.Fatalf("scanJSON allocates %v times per call", n)
	}
}

// FuzzScanJSON checks the validator against encoding/json.Valid.
func FuzzScanJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkScan(t, in) })
}

// BenchmarkScanJSON compares the validator with encoding/json.Valid on a
// typical line:
//
//	go test -run '^$' -bench ScanJSON ./connectors/file
func BenchmarkScanJSON(b *testing.B) {
	in := []byte(`{"id":12345,"name":"row 12345","amount":"12345.45","tags":["x","y"],"ok":true,"t":1.5e3}`)
	b.Run("scanJSON", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for i := 0; i < b.N; i++ {
			scanJSON(in)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for i := 0; i < b.N; i++ {
			json.Valid(in)
		}
	})
}
