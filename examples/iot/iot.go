// Package iot is the IoT example: a deterministic generator of sensor
// readings and the pipeline files that turn them into per-sensor
// one-minute averages (Parquet, JSON lines, a topic, and PostgreSQL when a
// DSN is given) and alerts for readings over a threshold. `sluice demo iot`
// runs it end to end; README.md shows how to run each part by hand.
package iot

import (
	_ "embed"
	"encoding/json"
	"math"
	"math/rand/v2"
	"time"
)

// PipelineYAML is pipeline.yaml: averages and alerts.
//
//go:embed pipeline.yaml
var PipelineYAML []byte

// PostgresYAML is postgres.yaml: averages into PostgreSQL.
//
//go:embed postgres.yaml
var PostgresYAML []byte

// Topics of the example (the defaults of the pipeline files).
const (
	ReadingsTopic = "iot.readings"
	AveragesTopic = "iot.averages"
	AlertsTopic   = "iot.alerts"
	// AlertThreshold is the default alert temperature in °C.
	AlertThreshold = 45.0
)

// Reading is one sensor measurement, as produced to iot.readings (JSON,
// keyed by sensor_id).
type Reading struct {
	SensorID    string    `json:"sensor_id"`
	Site        string    `json:"site"`
	Temperature float64   `json:"temperature"`
	Humidity    float64   `json:"humidity"`
	Battery     float64   `json:"battery"`
	TS          time.Time `json:"ts"`
}

// JSON is the reading's record value.
func (r Reading) JSON() []byte {
	b, _ := json.Marshal(r)
	return b
}

// Config shapes the generated data. The same config always generates the
// same readings.
type Config struct {
	Seed    uint64
	Sensors int
	// Interval between two readings of a sensor.
	Interval time.Duration
	// Duration of event time covered, from Start.
	Duration time.Duration
	Start    time.Time
}

// DefaultConfig is the demo's data: 50 sensors on 5 sites reporting every
// 5 seconds for 10 minutes and 15 seconds of event time (the extra seconds
// move stream time past the tenth minute's grace period, so ten full
// minutes of averages are emitted). The readings start on the minute
// eleven minutes ago: event times are recent, as retention (7 days by
// default) deletes records by their timestamps. The values depend only on
// the seed.
func DefaultConfig() Config {
	return Config{Seed: 42, Sensors: 50, Interval: 5 * time.Second, Duration: 10*time.Minute + 15*time.Second,
		Start: time.Now().UTC().Truncate(time.Minute).Add(-11 * time.Minute)}
}

// sensor is one simulated device.
type sensor struct {
	id, site string
	base     float64 // typical temperature
	humid    float64
	battery  float64
	drain    float64 // battery use per reading
	// a fault makes the sensor overheat between two instants
	faultFrom, faultTo time.Time
	faultPeak          float64
}

// Generate calls fn for every reading in event-time order (ties by sensor),
// stopping at the first error fn returns.
func Generate(cfg Config, fn func(Reading) error) error {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	sites := []string{"plant-north", "plant-south", "warehouse-east", "warehouse-west", "office-hq"}
	sensors := make([]sensor, cfg.Sensors)
	for i := range sensors {
		s := sensor{
			id:      "sensor-" + pad3(i+1),
			site:    sites[i%len(sites)],
			base:    18 + rng.Float64()*12,
			humid:   35 + rng.Float64()*30,
			battery: 0.6 + rng.Float64()*0.4,
			drain:   0.00002 + rng.Float64()*0.00005,
		}
		// About one sensor in eight overheats for a while: a failing fan.
		if rng.IntN(8) == 0 && cfg.Duration > time.Minute {
			from := time.Duration(rng.Int64N(int64(cfg.Duration - time.Minute)))
			s.faultFrom = cfg.Start.Add(from)
			s.faultTo = s.faultFrom.Add(time.Duration(30+rng.IntN(120)) * time.Second)
			s.faultPeak = 50 + rng.Float64()*25
		}
		sensors[i] = s
	}
	for t := cfg.Start; t.Before(cfg.Start.Add(cfg.Duration)); t = t.Add(cfg.Interval) {
		for i := range sensors {
			s := &sensors[i]
			// readings of one round are spread over the interval, in order
			ts := t.Add((time.Duration(i) * cfg.Interval / time.Duration(len(sensors)+1)).Truncate(time.Millisecond))
			phase := float64(ts.Sub(cfg.Start)) / float64(time.Hour)
			temp := s.base + 1.5*math.Sin(2*math.Pi*phase) + rng.NormFloat64()*0.4
			if !s.faultFrom.IsZero() && !ts.Before(s.faultFrom) && ts.Before(s.faultTo) {
				temp = s.faultPeak + rng.NormFloat64()
			}
			s.battery = math.Max(0, s.battery-s.drain)
			r := Reading{
				SensorID:    s.id,
				Site:        s.site,
				Temperature: round2(temp),
				Humidity:    round2(s.humid + rng.NormFloat64()*2),
				Battery:     round2(s.battery),
				TS:          ts.UTC(),
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func pad3(n int) string {
	s := []byte{'0', '0', '0'}
	for i := 2; i >= 0 && n > 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}
