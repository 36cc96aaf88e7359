package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// fuzzRead writes data to a file and reads it with a source of the given
// format; it must never panic and must either fail with an error or return
// records whose byte positions only move forward.
func fuzzRead(t *testing.T, raw map[string]string, data []byte) []connectors.Record {
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	raw["file"] = path
	raw["poll.interval"] = "1ms"
	raw["max.record.bytes"] = "4096"
	cfg, err := SourceSpec.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := &Source{}
	if err := s.Open(context.Background(), connectors.TaskInfo{}, cfg, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	var out []connectors.Record
	for i := 0; i < 4; i++ {
		recs, err := s.Poll(context.Background())
		if err != nil {
			return out
		}
		out = append(out, recs...)
	}
	return out
}

func FuzzSourceJSONLines(f *testing.F) {
	f.Add([]byte("{\"a\":1}\n[1,2]\n\"s\"\n"))
	f.Add([]byte("{\"a\":\n"))
	f.Add([]byte("\r\n\n  \n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, r := range fuzzRead(t, map[string]string{"invalid.records": "skip"}, data) {
			if !bytes.Equal(bytes.TrimSpace(r.Value), r.Value) || len(r.Value) == 0 {
				t.Fatalf("value %q not trimmed or empty", r.Value)
			}
		}
	})
}

func FuzzSourceCSV(f *testing.F) {
	f.Add([]byte("a,b\n1,2\n\"x\ny\",\"\"\"\"\n"))
	f.Add([]byte("a,b\n1\n"))
	f.Add([]byte("\"unterminated\n"))
	f.Add([]byte(",\n1,2"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRead(t, map[string]string{"format": "csv", "invalid.records": "skip", "csv.schema": "a int64, b string"}, data)
		fuzzRead(t, map[string]string{"format": "csv", "invalid.records": "fail"}, data)
	})
}
