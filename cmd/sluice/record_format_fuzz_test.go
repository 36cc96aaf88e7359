package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzConsumeJSON checks that `consume --format json` never loses or
// mangles a byte of what the broker sent, whatever the bytes: every key,
// value and header value decodes back to the original, and each record is
// exactly one line.
func FuzzConsumeJSON(f *testing.F) {
	f.Add([]byte("key"), []byte("value"), "h", []byte("v"), false)
	f.Add([]byte{}, []byte{0xff, 0xfe, 0x00}, "", []byte(nil), true)
	f.Add([]byte("line\nbreak"), []byte("\"quoted\" \u2028 \x1b"), "k\n", []byte{0xc3, 0x28}, false)
	f.Fuzz(func(t *testing.T, key, value []byte, hkey string, hval []byte, nilKey bool) {
		if nilKey {
			key = nil
		}
		r := &kgo.Record{Topic: "t", Key: key, Value: value, Timestamp: time.UnixMilli(1),
			Headers: []kgo.RecordHeader{{Key: hkey, Value: hval}}}
		var buf bytes.Buffer
		w := bufio.NewWriter(&buf)
		if err := writeRecord(w, r, &consumeOptions{format: "json"}); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		out := buf.Bytes()
		if bytes.Count(out, []byte{'\n'}) != 1 || out[len(out)-1] != '\n' {
			t.Fatalf("record printed as %q, want one line", out)
		}
		var j jsonRecord
		if err := json.Unmarshal(out, &j); err != nil {
			t.Fatalf("printed invalid JSON %q: %v", out, err)
		}
		check := func(what string, s *string, b64 string, want []byte) {
			var got []byte
			switch {
			case s != nil:
				got = []byte(*s)
			case b64 != "":
				var err error
				if got, err = base64.StdEncoding.DecodeString(b64); err != nil {
					t.Fatalf("%s: bad base64 %q", what, b64)
				}
			}
			if want == nil && (s != nil || b64 != "") {
				t.Fatalf("%s: null printed as %q / %q", what, deref(s), b64)
			}
			if want != nil && s == nil && b64 == "" && len(want) > 0 {
				t.Fatalf("%s: %q printed as null", what, want)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: %q round-tripped to %q", what, want, got)
			}
		}
		check("key", j.Key, j.KeyBase64, key)
		check("value", j.Value, j.ValueBase64, value)
		if len(j.Headers) != 1 {
			t.Fatalf("headers %+v, want one", j.Headers)
		}
		// Header keys are strings in Kafka; encoding/json replaces invalid
		// UTF-8 in them, which is acceptable for a name.
		if utf8.ValidString(hkey) && j.Headers[0].Key != hkey {
			t.Fatalf("header key %q printed as %q", hkey, j.Headers[0].Key)
		}
		check("header value", j.Headers[0].Value, j.Headers[0].ValueBase64, hval)
	})
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
