package record

import "testing"

// BenchmarkDecode is the per-record decode cost of a YAML pipeline's
// source (a Codec with declared fields, as pipelines/compile uses it):
//
//	go test -run '^$' -bench Decode ./pipelines/record/
func BenchmarkDecode(b *testing.B) {
	in := []byte(`{"sensor_id":"sensor-0042","site":"plant-7","temperature":21.5,"humidity":48.25,"battery":3.7,"note":"caf\u00e9 \"ok\"","tags":["a","b"]}`)
	c := NewCodec([]Field{{"sensor_id", String}, {"site", String}, {"temperature", Float64}, {"humidity", Float64}, {"battery", Float64}})
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := c.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
