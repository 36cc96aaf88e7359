package httpsrc

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeBody: any body either decodes into valid JSON records within
// the limits, or is refused whole with a positioned reason; never a panic.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		"{\"account\":\"a\",\"amount\":\"1.00\"}\n{\"account\":7}\n",
		"[{\"account\":\"a\"},{\"account\":\"b\"}]",
		"{\"account\":\"a\"}",
		"\n\n\n",
		"{\"account\":\"\\ud800\"}\n",
		"[1,2,",
		"{\"account\":null}",
		"{\"account\":{\"x\":1}}\r\n{\"account\":\"c\"}",
		"\"just a string\"",
		"[]",
	} {
		f.Add([]byte(seed), true, "account")
		f.Add([]byte(seed), false, "")
	}
	f.Fuzz(func(t *testing.T, body []byte, ndjson bool, keyField string) {
		format := FormatJSON
		if ndjson {
			format = FormatNDJSON
		}
		lim := bodyLimits{maxRecords: 50, keyField: keyField}
		items, err := decodeBody(body, format, lim)
		if err != nil {
			if items != nil {
				t.Fatalf("refused body returned %d items", len(items))
			}
			if err.Reason == "" {
				t.Fatalf("error without a reason")
			}
			if ndjson && err.Line > bytes.Count(body, []byte("\n"))+1 {
				t.Fatalf("line %d beyond the body's lines", err.Line)
			}
			return
		}
		if len(items) == 0 || len(items) > lim.maxRecords {
			t.Fatalf("%d items", len(items))
		}
		for i, it := range items {
			if !json.Valid(it.value) {
				t.Fatalf("item %d is not valid JSON: %q", i, it.value)
			}
			if keyField != "" && len(it.key) == 0 {
				t.Fatalf("item %d has no key", i)
			}
		}
	})
}
