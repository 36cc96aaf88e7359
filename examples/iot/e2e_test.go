package iot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	parquet "github.com/parquet-go/parquet-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/iot"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/pipelines/runner/runnertest"
)

// testConfig is a smaller data set than the demo's: 12 sensors, 4 minutes.
func testConfig() iot.Config {
	cfg := iot.DefaultConfig()
	cfg.Sensors = 12
	cfg.Duration = 4*time.Minute + 15*time.Second
	return cfg
}

// averageRow is a record of iot.averages (and a line of averages.jsonl,
// and a Parquet row).
type averageRow struct {
	SensorID    string    `json:"sensor_id" parquet:"sensor_id"`
	Minute      time.Time `json:"minute"`
	Readings    int64     `json:"readings" parquet:"readings"`
	AvgTemp     float64   `json:"avg_temp" parquet:"avg_temp"`
	MinTemp     float64   `json:"min_temp" parquet:"min_temp"`
	MaxTemp     float64   `json:"max_temp" parquet:"max_temp"`
	AvgHumidity float64   `json:"avg_humidity" parquet:"avg_humidity"`
	Battery     float64   `json:"battery" parquet:"battery"`
}

func startIoT(t *testing.T, withPostgres string) (*brokertest.Broker, *kgo.Client, string, iot.Config) {
	t.Helper()
	b := brokertest.Start(t)
	out := t.TempDir()
	cfg := testConfig()
	env := map[string]string{"IOT_OUT": out, "IOT_PARQUET_ROWS": fmt.Sprint(cfg.Sensors)}
	files := map[string][]byte{"pipeline.yaml": iot.PipelineYAML}
	if withPostgres != "" {
		env["SLUICE_PG_DSN"] = withPostgres
		files["postgres.yaml"] = iot.PostgresYAML
	}
	run := runnertest.Start(t, []string{b.Addr}, files, env)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	run.WaitTopics(cl, iot.ReadingsTopic)
	var done atomic.Int64
	n, err := iot.Produce(context.Background(), cl, iot.ReadingsTopic, cfg, &done)
	if err != nil || done.Load() != n {
		t.Fatalf("produce: %d of %d: %v", done.Load(), n, err)
	}
	run.WaitSettled(2 * time.Minute)
	run.Stop()
	return b, cl, out, cfg
}

// TestIoTEndToEnd runs the example's pipelines against a real broker and
// checks every number they write — the averages topic, the JSON lines
// file, the Parquet files and the alerts — against values computed
// straight from the generator.
func TestIoTEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve")
	}
	_, cl, out, cfg := startIoT(t, "")
	want, wantAlerts := iot.Expected(cfg, iot.AlertThreshold)
	if len(want) != cfg.Sensors*4 {
		t.Fatalf("expected %d closed windows, computed %d", cfg.Sensors*4, len(want))
	}

	// The topic.
	var fromTopic []averageRow
	for _, v := range consumeAll(t, cl, iot.AveragesTopic) {
		var r averageRow
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatalf("iot.averages record %s: %v", v, err)
		}
		fromTopic = append(fromTopic, r)
	}
	checkAverages(t, "iot.averages", fromTopic, want, true)

	// The JSON lines file.
	checkAverages(t, "averages.jsonl", readJSONL[averageRow](t, filepath.Join(out, "averages.jsonl")), want, true)

	// The Parquet files: every row right; all but the newest file are
	// committed (see runner.Runner.Settled).
	rows := readParquet(t, filepath.Join(out, "parquet", iot.AveragesTopic))
	checkAverages(t, "parquet", rows, want, false)
	if len(rows) < len(want)-cfg.Sensors {
		t.Errorf("parquet: %d rows, want at least %d", len(rows), len(want)-cfg.Sensors)
	}

	// The alerts: exactly the readings over the threshold.
	type alert struct {
		SensorID    string    `json:"sensor_id"`
		Temperature float64   `json:"temperature"`
		At          time.Time `json:"at"`
	}
	var got []alert
	for _, v := range consumeAll(t, cl, iot.AlertsTopic) {
		var a alert
		if err := json.Unmarshal(v, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if len(wantAlerts) == 0 {
		t.Fatal("the test data has no reading over the threshold")
	}
	if len(got) != len(wantAlerts) {
		t.Fatalf("%d alerts, want %d", len(got), len(wantAlerts))
	}
	sort.Slice(got, func(i, j int) bool { return got[i].At.Before(got[j].At) })
	for i, w := range wantAlerts {
		if got[i].SensorID != w.SensorID || got[i].Temperature != w.Temperature || !got[i].At.Equal(w.TS) {
			t.Errorf("alert %d: got %+v, want %+v", i, got[i], w)
		}
	}
	if n := len(readJSONL[alert](t, filepath.Join(out, "alerts.jsonl"))); n != len(wantAlerts) {
		t.Errorf("alerts.jsonl: %d lines, want %d", n, len(wantAlerts))
	}
}

// TestIoTPostgres runs the example with its PostgreSQL pipeline and checks
// the table.
func TestIoTPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve and PostgreSQL")
	}
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase(t, "iot")
	_, _, _, cfg := startIoT(t, dsn)
	want, _ := iot.Expected(cfg, iot.AlertThreshold)

	conn := pg.ConnectTo(t, "iot")
	var minuteType string
	if err := conn.QueryRow(context.Background(), `select data_type from information_schema.columns where table_name = 'iot_averages' and column_name = 'minute'`).Scan(&minuteType); err != nil {
		t.Fatal(err)
	}
	if minuteType != "timestamp with time zone" {
		t.Errorf("iot_averages.minute is %s, want timestamp with time zone", minuteType)
	}
	rows, err := conn.Query(context.Background(), `select sensor_id, to_char(minute at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), readings::bigint, avg_temp::float8, min_temp::float8, max_temp::float8, avg_humidity::float8, battery::float8 from iot_averages`)
	if err != nil {
		t.Fatal(err)
	}
	var got []averageRow
	for rows.Next() {
		var r averageRow
		var minute string
		if err := rows.Scan(&r.SensorID, &minute, &r.Readings, &r.AvgTemp, &r.MinTemp, &r.MaxTemp, &r.AvgHumidity, &r.Battery); err != nil {
			t.Fatal(err)
		}
		if r.Minute, err = parseTime(minute); err != nil {
			t.Fatalf("minute %q: %v", minute, err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	checkAverages(t, "iot_averages table", got, want, true)
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07", "2006-01-02 15:04:05-07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unknown time format")
}

// checkAverages compares rows with the expected averages; all says every
// expected window must be there.
func checkAverages(t *testing.T, what string, rows []averageRow, want map[string]iot.Average, all bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rows {
		k := iot.Key(r.SensorID, r.Minute)
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: unexpected window %s", what, k)
			continue
		}
		if seen[k] {
			t.Errorf("%s: window %s twice", what, k)
		}
		seen[k] = true
		if r.Readings != int64(w.Readings) || !near(r.AvgTemp, w.AvgTemp) || r.MinTemp != w.MinTemp || r.MaxTemp != w.MaxTemp ||
			!near(r.AvgHumidity, w.AvgHumidity) || r.Battery != w.Battery {
			t.Errorf("%s: window %s = %+v, want %+v", what, k, r, w)
		}
	}
	if all && len(seen) != len(want) {
		t.Errorf("%s: %d windows, want %d", what, len(seen), len(want))
	}
}

// near allows the last decimal of a rounded average to differ: the sum's
// rounding depends on the order of additions.
func near(a, b float64) bool { return math.Abs(a-b) <= 0.0100001 }

func consumeAll(t *testing.T, cl *kgo.Client, topic string) [][]byte {
	t.Helper()
	brokerAddr := cl.OptValue(kgo.SeedBrokers).([]string)
	c, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadmEnd(ctx, cl, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for int64(len(out)) < ends {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %d of %d records: %v", topic, len(out), ends, err)
		}
		for _, e := range fs.Errors() {
			t.Logf("consume %s: %v", topic, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r.Value) })
	}
	return out
}

func readJSONL[T any](t *testing.T, path string) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("%s: %q: %v", path, sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

// readParquet reads every row of the Parquet files in dir.
func readParquet(t *testing.T, dir string) []averageRow {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) == 0 {
		t.Fatalf("no Parquet files in %s", dir)
	}
	var out []averageRow
	for _, f := range files {
		// minute is a timestamp column: the pipeline's output carries its
		// Arrow schema, so the sink does not have to guess.
		type pqRow struct {
			averageRow
			Minute time.Time `parquet:"minute,timestamp(microsecond)"`
		}
		rows, err := parquet.ReadFile[pqRow](f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, r := range rows {
			r.averageRow.Minute = r.Minute
			out = append(out, r.averageRow)
		}
	}
	return out
}
