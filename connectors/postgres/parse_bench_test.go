package postgres

import (
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

var benchValue = []byte(`{"id":123456,"sensor":"sensor-0456","temp":12.3,"ok":true,"at":"2024-01-01T00:02:03.456Z","site":6}`)

// BenchmarkParseValue is the per-record JSON parsing cost of the sink.
//
//	go test -run '^$' -bench ParseValue -benchmem ./connectors/postgres/
func BenchmarkParseValue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseObject(benchValue); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareEncode is the sink's own CPU work per record before and
// during COPY (parse, plan, binary encode), without a database.
func BenchmarkPrepareEncode(b *testing.B) {
	s := &Sink{cfg: &sinkConfig{tableFormat: "${topic}", schema: "public", pkMode: PKModeNone}}
	t := &table{schema: "public", name: "bench", ident: `"public"."bench"`, byName: map[string]int{}, byFold: map[string]int{}}
	for i, c := range []struct {
		name string
		oid  uint32
	}{{"id", 20}, {"sensor", 25}, {"temp", 701}, {"ok", 16}, {"at", 1184}, {"site", 23}} {
		ti := typeInfo{OID: c.oid}
		t.cols = append(t.cols, column{name: c.name, typ: ti, enc: encoderFor(ti), bin: binaryEncoderFor(c.oid)})
		t.byName[c.name], t.byFold[c.name] = i, i
	}
	s.tables = map[string]*table{"bench": t}
	batch := make([]connectors.Record, 10000)
	for i := range batch {
		batch[i] = connectors.Record{Topic: "bench", Offset: int64(i), Value: benchValue}
	}
	buf := make([]byte, 64<<10)
	b.ResetTimer()
	for b.Loop() {
		refused := refusals{}
		groups := s.prepare(batch, refused)
		g := groups[0]
		g.t = t
		if _, err := s.newColumns(g, t, refused); err != nil {
			b.Fatal(err)
		}
		if err := s.chooseColumns(g); err != nil {
			b.Fatal(err)
		}
		r := &copyReader{s: s, g: g, rows: g.rows, refused: refused, binary: true}
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/record")
}
