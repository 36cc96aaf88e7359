// Command dsl is the IoT example written with Sluice's Go DSL instead of a
// pipeline file: per-sensor one-minute average temperatures (tumbling
// windows on event time, 10s grace, one final result per sensor and minute)
// and an alert stream for readings over a threshold.
//
// It reads the readings the example's generator writes (`sluice demo iot`,
// or the `gen` mode of this program) and writes to its own topics, so it
// can run next to the YAML pipeline. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/iot"
	"github.com/sluicehq/sluice/operators"
)

// Output topics of the DSL version.
const (
	AveragesTopic = "iot.dsl.averages"
	AlertsTopic   = "iot.dsl.alerts"
)

// Average is one sensor's statistics for one minute of event time.
type Average struct {
	SensorID    string    `json:"sensor_id"`
	Minute      time.Time `json:"minute"`
	Readings    int       `json:"readings"`
	AvgTemp     float64   `json:"avg_temp"`
	MinTemp     float64   `json:"min_temp"`
	MaxTemp     float64   `json:"max_temp"`
	AvgHumidity float64   `json:"avg_humidity"`
	Battery     float64   `json:"battery"`
}

// Alert is a reading over the threshold.
type Alert struct {
	SensorID    string    `json:"sensor_id"`
	Site        string    `json:"site"`
	Temperature float64   `json:"temperature"`
	At          time.Time `json:"at"`
	Message     string    `json:"message"`
}

// acc is the running aggregate of one sensor-minute, kept in the window
// store (and its changelog) as JSON.
type acc struct {
	N       int     `json:"n"`
	Sum     float64 `json:"sum"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	HumSum  float64 `json:"hum_sum"`
	Battery float64 `json:"battery"`
}

// Topology builds the two jobs over the readings topic.
func Topology(readingsTopic string, threshold float64) (*operators.Topology, error) {
	b := operators.NewBuilder()
	readings := operators.StreamOf(b, readingsTopic, operators.String, operators.JSON[iot.Reading](),
		// Event time is when the sensor measured, not when Kafka got it.
		operators.TimestampFrom(func(_ string, r iot.Reading, _ int64) int64 { return r.TS.UnixMilli() }))
	// Physically impossible values are sensor faults, not weather.
	valid := readings.Filter(func(_ string, r iot.Reading) bool { return r.Temperature > -60 && r.Temperature < 150 })

	// Per-sensor one-minute averages: readings are keyed by sensor_id, so
	// no repartition is needed.
	minutes := valid.GroupByKey().WindowedBy(operators.Tumbling(time.Minute).Grace(10 * time.Second))
	stats := operators.AggregateWindowed(minutes,
		func() acc { return acc{Min: math.Inf(1), Max: math.Inf(-1), Battery: math.Inf(1)} },
		func(_ string, r iot.Reading, a acc) acc {
			a.N++
			a.Sum += r.Temperature
			a.HumSum += r.Humidity
			a.Min = math.Min(a.Min, r.Temperature)
			a.Max = math.Max(a.Max, r.Temperature)
			a.Battery = math.Min(a.Battery, r.Battery)
			return a
		},
		operators.JSON[acc](),
		operators.EmitOnClose(), // one final result per sensor and minute
		operators.Materialized("sensor-minutes"))
	operators.Map(stats.ToStream(), func(w operators.Windowed[string], a acc) (string, Average) {
		return w.Key, Average{
			SensorID: w.Key, Minute: time.UnixMilli(w.Start).UTC(), Readings: a.N,
			AvgTemp: round2(a.Sum / float64(a.N)), MinTemp: a.Min, MaxTemp: a.Max,
			AvgHumidity: round2(a.HumSum / float64(a.N)), Battery: a.Battery,
		}
	}).WithSerdes(operators.String, operators.JSON[Average]()).To(AveragesTopic)

	// Alerts: every reading over the threshold, as it arrives.
	hot := valid.Filter(func(_ string, r iot.Reading) bool { return r.Temperature > threshold })
	operators.MapValues(hot, func(_ string, r iot.Reading) Alert {
		return Alert{SensorID: r.SensorID, Site: r.Site, Temperature: r.Temperature, At: r.TS,
			Message: fmt.Sprintf("temperature %.2f°C on %s at %s", r.Temperature, r.SensorID, r.Site)}
	}).WithSerdes(operators.String, operators.JSON[Alert]()).To(AlertsTopic)
	return b.Build()
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

func main() {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	brokers := flag.String("brokers", env("SLUICE_BROKERS", "127.0.0.1:9092"), "comma-separated bootstrap brokers")
	appID := flag.String("app-id", "iot-dsl", "application id: consumer group and internal topic prefix")
	readings := flag.String("readings", iot.ReadingsTopic, "topic of sensor readings (JSON, keyed by sensor_id)")
	threshold := flag.Float64("threshold", iot.AlertThreshold, "alert temperature in °C")
	stateDir := flag.String("state-dir", "./iot-dsl-state", "directory for local state stores")
	metrics := flag.String("metrics-listen", "", "serve Prometheus /metrics on host:port (off when empty)")
	describe := flag.Bool("describe", false, "print the topology and exit")
	gen := flag.Bool("generate", false, "produce the example's generated readings to -readings and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *gen {
		n, err := Generate(ctx, strings.Split(*brokers, ","), *readings, iot.DefaultConfig())
		if err != nil {
			fmt.Fprintln(os.Stderr, "iot-dsl:", err)
			os.Exit(1)
		}
		fmt.Printf("produced %d readings to %s\n", n, *readings)
		return
	}
	topo, err := Topology(*readings, *threshold)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iot-dsl:", err)
		os.Exit(2)
	}
	if *describe {
		fmt.Print(topo.Describe())
		return
	}
	if err := run(ctx, topo, engine.Config{ApplicationID: *appID, Brokers: strings.Split(*brokers, ","), StateDir: *stateDir,
		Registerer: prometheus.DefaultRegisterer}, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "iot-dsl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, topo *operators.Topology, cfg engine.Config, metrics string) error {
	if metrics != "" {
		srv := &http.Server{Addr: metrics, Handler: promhttp.Handler()}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
	}
	app, err := engine.New(topo, cfg)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// Generate produces the example generator's readings to topic, keyed by
// sensor_id.
func Generate(ctx context.Context, brokers []string, topic string, cfg iot.Config) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	if err := iot.Generate(cfg, func(r iot.Reading) error {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(r.SensorID), Value: r.JSON(), Timestamp: r.TS})
		return nil
	}); err != nil {
		return 0, err
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("produce readings: %w", err)
	}
	return len(recs), nil
}
