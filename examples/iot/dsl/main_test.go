package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/iot"
	"github.com/sluicehq/sluice/internal/brokertest"
)

func TestIoTDSLExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(AveragesTopic, AlertsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 3, 1, nil, iot.ReadingsTopic, AveragesTopic, AlertsTopic); err != nil {
		t.Fatal(err)
	}
	cfg := iot.Config{Seed: 42, Sensors: 12, Interval: 5 * time.Second, Duration: 4*time.Minute + 15*time.Second,
		Start: time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)}
	if _, err := Generate(ctx, []string{b.Addr}, iot.ReadingsTopic, cfg); err != nil {
		t.Fatal(err)
	}
	wantAvg, wantAlerts := iot.Expected(cfg, iot.AlertThreshold)
	if len(wantAvg) == 0 {
		t.Fatal("generator produced no closed windows")
	}
	topo, err := Topology(iot.ReadingsTopic, iot.AlertThreshold)
	if err != nil {
		t.Fatal(err)
	}
	appCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(appCtx, topo, engine.Config{ApplicationID: "iot-dsl", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 200 * time.Millisecond}, "")
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	gotAvg := map[string]Average{}
	gotAlerts := 0
	for len(gotAvg) < len(wantAvg) || gotAlerts < len(wantAlerts) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out: %d/%d averages, %d/%d alerts", len(gotAvg), len(wantAvg), gotAlerts, len(wantAlerts))
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case AveragesTopic:
				var a Average
				if err := json.Unmarshal(r.Value, &a); err != nil {
					t.Fatal(err)
				}
				k := iot.Key(a.SensorID, a.Minute)
				if _, dup := gotAvg[k]; dup {
					t.Errorf("average for %s emitted twice (emit-on-close)", k)
				}
				gotAvg[k] = a
			case AlertsTopic:
				gotAlerts++
			}
		})
	}
	for k, w := range wantAvg {
		g, ok := gotAvg[k]
		if !ok {
			t.Errorf("missing average %s", k)
			continue
		}
		if g.Readings != w.Readings || g.AvgTemp != w.AvgTemp || g.MinTemp != w.MinTemp || g.MaxTemp != w.MaxTemp ||
			g.AvgHumidity != w.AvgHumidity || g.Battery != w.Battery {
			t.Errorf("%s: got %+v want %+v", k, g, w)
		}
	}
	if len(gotAvg) != len(wantAvg) || gotAlerts != len(wantAlerts) {
		t.Errorf("got %d averages and %d alerts, want %d and %d", len(gotAvg), gotAlerts, len(wantAvg), len(wantAlerts))
	}
}
