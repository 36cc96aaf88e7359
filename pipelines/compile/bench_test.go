package compile

// Benchmarks: the same logic as a YAML pipeline and in the Go DSL, run by
// the same task runtime the engine uses (operators.Task: source decode,
// processors, stores with their write caches, sink encode), with records
// handed between sub-topologies in memory and a flush (the engine's commit
// point) every 1000 records. Kafka I/O is left out on purpose: it costs the
// same for both, and the question is what the YAML layer costs.
//
//	go test ./pipelines/compile -run '^$' -bench 'YAML|GoDSL' -benchtime 200000x
//
// Compare BenchmarkFilterMap/YAML with BenchmarkFilterMap/GoDSL and
// BenchmarkWindow/YAML with BenchmarkWindow/GoDSL (records/s).

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/operators"
)

// benchReading is the Go DSL's record type.
type benchReading struct {
	SensorID    string  `json:"sensor_id"`
	Site        string  `json:"site"`
	Temperature float64 `json:"temperature"`
	Humidity    float64 `json:"humidity"`
	Battery     float64 `json:"battery"`
}

type benchConverted struct {
	Sensor string  `json:"sensor"`
	Site   string  `json:"site"`
	TempF  float64 `json:"temp_f"`
	Humid  bool    `json:"humid"`
}

type benchAcc struct {
	N   int64   `json:"n"`
	Sum float64 `json:"sum"`
	Max float64 `json:"max"`
}

type benchAverage struct {
	Key         string    `json:"key"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Readings    int64     `json:"readings"`
	AvgTemp     float64   `json:"avg_temp"`
	MaxTemp     float64   `json:"max_temp"`
}

const benchFilterMapYAML = `
name: bench-filter-map
sources:
  in:
    topic: readings
    schema: {sensor_id: string, site: string, temperature: float64, humidity: float64, battery: float64}
steps:
  - filter: temperature > 20
  - map:
      sensor: sensor_id
      site: site
      temp_f: temperature * 9 / 5 + 32
      humid: humidity > 50
to: out
sinks: {out: converted}
`

const benchWindowYAML = `
name: bench-window
sources:
  in:
    topic: readings
    schema: {sensor_id: string, site: string, temperature: float64, humidity: float64, battery: float64}
steps:
  - key_by: sensor_id
  - window:
      type: tumbling
      size: 1m
      aggregates:
        readings: count()
        avg_temp: avg(temperature)
        max_temp: max(temperature)
to: out
sinks: {out: averages}
`

func goDSLFilterMap(b testing.TB) *operators.Topology {
	bl := operators.NewBuilder()
	in := operators.StreamOf(bl, "readings", operators.String, operators.JSON[benchReading]())
	hot := in.Filter(func(_ string, r benchReading) bool { return r.Temperature > 20 })
	out := operators.MapValues(hot, func(_ string, r benchReading) benchConverted {
		return benchConverted{Sensor: r.SensorID, Site: r.Site, TempF: r.Temperature*9/5 + 32, Humid: r.Humidity > 50}
	})
	out.WithSerdes(operators.String, operators.JSON[benchConverted]()).To("converted")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	return topo
}

func goDSLWindow(b testing.TB) *operators.Topology {
	bl := operators.NewBuilder()
	in := operators.StreamOf(bl, "readings", operators.String, operators.JSON[benchReading]())
	keyed := operators.SelectKey(in, func(_ string, r benchReading) string { return r.SensorID }).
		WithSerdes(operators.String, operators.JSON[benchReading]())
	w := keyed.GroupByKey().WindowedBy(operators.Tumbling(time.Minute))
	t := operators.AggregateWindowed(w, func() benchAcc { return benchAcc{Max: -1e308} },
		func(_ string, r benchReading, a benchAcc) benchAcc {
			a.N++
			a.Sum += r.Temperature
			a.Max = max(a.Max, r.Temperature)
			return a
		}, operators.JSON[benchAcc](), operators.EmitOnClose())
	out := operators.Map(t.ToStream(), func(k operators.Windowed[string], a benchAcc) (string, benchAverage) {
		return k.Key, benchAverage{Key: k.Key, WindowStart: time.UnixMilli(k.Start).UTC(), WindowEnd: time.UnixMilli(k.End).UTC(),
			Readings: a.N, AvgTemp: a.Sum / float64(a.N), MaxTemp: a.Max}
	})
	out.WithSerdes(operators.String, operators.JSON[benchAverage]()).To("averages")
	topo, err := bl.Build()
	if err != nil {
		b.Fatal(err)
	}
	return topo
}

// benchInput is a fixed set of readings from 1000 sensors, cycled.
func benchInput() [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, 4096)
	for i := range out {
		out[i] = []byte(fmt.Sprintf(`{"sensor_id":"sensor-%04d","site":"plant-%d","temperature":%.2f,"humidity":%.1f,"battery":%.2f}`,
			rng.IntN(1000), rng.IntN(5), 10+rng.Float64()*25, 30+rng.Float64()*40, rng.Float64()))
	}
	return out
}

// taskHarness runs every sub-topology of a topology as one task, routing
// records written to internal topics back in, like the test driver but
// flushing only every flushEvery records.
type taskHarness struct {
	tasks   []*operators.Task
	byTopic map[string]*operators.Task
	queue   []operators.OutputRecord
	out     int
}

func newHarness(b *testing.B, topo *operators.Topology, appID string) *taskHarness {
	h := &taskHarness{byTopic: map[string]*operators.Task{}}
	for _, st := range topo.SubTopologies() {
		tk, err := topo.NewTask(st.ID, operators.TaskConfig{ID: operators.TaskID{SubTopology: st.ID}, ApplicationID: appID,
			Emit: func(r operators.OutputRecord) error { h.queue = append(h.queue, r); return nil }})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tk.Close() })
		h.tasks = append(h.tasks, tk)
		for _, src := range st.Sources {
			h.byTopic[src.TopicName(appID)] = tk
		}
	}
	return h
}

func (h *taskHarness) drain(b *testing.B) {
	for len(h.queue) > 0 {
		q := h.queue
		h.queue = nil
		for i := range q {
			if tk := h.byTopic[q[i].Topic]; tk != nil {
				if err := tk.Process(&operators.InputRecord{Topic: q[i].Topic, Key: q[i].Key, Value: q[i].Value, Timestamp: q[i].Timestamp}); err != nil {
					b.Fatal(err)
				}
				continue
			}
			h.out++
		}
	}
}

func runBench(b *testing.B, topo *operators.Topology, appID string) {
	input := benchInput()
	h := newHarness(b, topo, appID)
	src := h.byTopic["readings"]
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	in := &operators.InputRecord{Topic: "readings"}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		in.Offset = int64(i)
		in.Value = input[i%len(input)]
		in.Timestamp = base + int64(i)*5 // 200 readings per second of event time
		if err := src.Process(in); err != nil {
			b.Fatal(err)
		}
		h.drain(b)
		if i%1000 == 999 {
			for _, tk := range h.tasks {
				if err := tk.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			h.drain(b)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if b.N >= 100000 && h.out == 0 {
		b.Fatal("no output")
	}
}

func BenchmarkFilterMap(b *testing.B) {
	b.Run("YAML", func(b *testing.B) {
		c := build(b, benchFilterMapYAML)
		runBench(b, c.Topology, c.AppID)
	})
	b.Run("GoDSL", func(b *testing.B) { runBench(b, goDSLFilterMap(b), "bench") })
}

func BenchmarkWindow(b *testing.B) {
	b.Run("YAML", func(b *testing.B) {
		c := build(b, benchWindowYAML)
		runBench(b, c.Topology, c.AppID)
	})
	b.Run("GoDSL", func(b *testing.B) { runBench(b, goDSLWindow(b), "bench") })
}
