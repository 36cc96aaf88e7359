package iot

import (
	"math"
	"time"
)

// Average is what the averages pipeline must output for one sensor and
// minute.
type Average struct {
	SensorID    string
	Minute      time.Time
	Readings    int
	AvgTemp     float64
	MinTemp     float64
	MaxTemp     float64
	AvgHumidity float64
	Battery     float64
}

// Expected computes, directly from the generator, the averages of every
// window the pipeline closes (those whose end plus the 10s grace is at or
// before the last reading) and the readings over threshold.
func Expected(cfg Config, threshold float64) (map[string]Average, []Reading) {
	type acc struct {
		n                 int
		sum, min, max, hs float64
		bat               float64
	}
	accs := map[string]*acc{}
	keyOf := func(id string, m time.Time) string { return id + "@" + m.Format(time.RFC3339) }
	var last time.Time
	var alerts []Reading
	_ = Generate(cfg, func(r Reading) error {
		m := r.TS.Truncate(time.Minute)
		k := keyOf(r.SensorID, m)
		a := accs[k]
		if a == nil {
			a = &acc{min: math.Inf(1), max: math.Inf(-1), bat: math.Inf(1)}
			accs[k] = a
		}
		a.n++
		a.sum += r.Temperature
		a.hs += r.Humidity
		a.min = math.Min(a.min, r.Temperature)
		a.max = math.Max(a.max, r.Temperature)
		a.bat = math.Min(a.bat, r.Battery)
		if r.TS.After(last) {
			last = r.TS
		}
		if r.Temperature > threshold {
			alerts = append(alerts, r)
		}
		return nil
	})
	out := map[string]Average{}
	_ = Generate(cfg, func(r Reading) error {
		m := r.TS.Truncate(time.Minute)
		if m.Add(time.Minute + 10*time.Second).After(last) {
			return nil // still open
		}
		k := keyOf(r.SensorID, m)
		a := accs[k]
		out[k] = Average{SensorID: r.SensorID, Minute: m, Readings: a.n, AvgTemp: round2(a.sum / float64(a.n)),
			MinTemp: a.min, MaxTemp: a.max, AvgHumidity: round2(a.hs / float64(a.n)), Battery: a.bat}
		return nil
	})
	return out, alerts
}

// Key is the key Expected uses for a sensor and minute.
func Key(sensor string, minute time.Time) string {
	return sensor + "@" + minute.UTC().Format(time.RFC3339)
}
