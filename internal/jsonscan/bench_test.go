package jsonscan

import (
	"encoding/json"
	"testing"
)

// Benchmarks of the shared scanners next to encoding/json on a typical
// record (the connectors' and pipelines' own benchmarks measure the hot
// paths that use them):
//
//	go test -run '^$' -bench . ./internal/jsonscan/
var benchRecord = []byte(`{"id":12345,"name":"row 12345","amount":"12345.45","tags":["x","y"],"ok":true,"t":1.5e3,"note":"caf\u00e9 \"ok\""}`)

func BenchmarkValid(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	b.Run("jsonscan", func(b *testing.B) {
		for b.Loop() {
			Valid(benchRecord)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Valid(benchRecord)
		}
	})
}

func BenchmarkEachMember(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	n := 0
	for b.Loop() {
		err := EachMember(benchRecord, 64, func(key []byte, _ bool, val []byte) error { n += len(key) + len(val); return nil })
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	b.Run("jsonscan", func(b *testing.B) {
		b.ReportAllocs()
		var d Decoder
		for b.Loop() {
			if _, err := d.DecodeObject(benchRecord); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]any
			if err := json.Unmarshal(benchRecord, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
