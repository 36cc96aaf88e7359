package file

import (
	"encoding/json"
	"testing"
)

// BenchmarkScanJSON is the per-line JSON cost of the file connectors: the
// source's validation of a read line and the sink's of a written value,
// next to encoding/json.Valid on the same line:
//
//	go test -run '^$' -bench ScanJSON ./connectors/file
func BenchmarkScanJSON(b *testing.B) {
	in := []byte(`{"id":12345,"name":"row 12345","amount":"12345.45","tags":["x","y"],"ok":true,"t":1.5e3}`)
	b.Run("source", func(b *testing.B) {
		d := &decoder{format: FormatJSON}
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := d.decode(in, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sink", func(b *testing.B) {
		s := &Sink{format: FormatJSON}
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if _, err := s.encode(in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			json.Valid(in)
		}
	})
}
