package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metricSum(t *testing.T, app *engine.App, name string) float64 {
	t.Helper()
	mfs, err := app.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += metricValue(m)
		}
	}
	return sum
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// A second instance takes half the tasks; when it stops gracefully they
// move back. A restarted instance with its state directory restores
// nothing from changelogs (its checkpoint is current).
func TestScaleOutAndBackAndLocalRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 4, "sc-in", "sc-out")
	b1, b2 := t.TempDir(), t.TempDir()
	topo := func() *operators.Topology {
		bl := operators.NewBuilder()
		operators.StreamOf(bl, "sc-in", operators.String, operators.String).GroupByKey().Count(operators.Materialized("n")).ToStream().To("sc-out")
		tp, err := bl.Build()
		if err != nil {
			t.Fatal(err)
		}
		return tp
	}
	cfg := func(dir string) engine.Config {
		return engine.Config{ApplicationID: "scale", Brokers: []string{b.Addr}, StateDir: dir, CommitInterval: 100 * time.Millisecond,
			SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second}
	}
	var recs []*kgo.Record
	for i := 0; i < 400; i++ {
		recs = append(recs, &kgo.Record{Topic: "sc-in", Key: []byte(fmt.Sprintf("k%d", i%40)), Value: []byte("x")})
	}
	produce(t, b.Addr, recs...)

	a1, stop1 := runApp(t, topo(), cfg(b1))
	waitFor(t, "first instance to own all tasks", 30*time.Second, func() bool { return len(a1.Tasks()) == 4 })
	waitFor(t, "first instance to process everything", 30*time.Second, func() bool { return metricSum(t, a1, "sluice_engine_records_in_total") >= 400 })

	a2, stop2 := runApp(t, topo(), cfg(b2))
	waitFor(t, "tasks to be shared", 60*time.Second, func() bool { return len(a1.Tasks()) == 2 && len(a2.Tasks()) == 2 })
	stop2()
	waitFor(t, "tasks to move back", 60*time.Second, func() bool { return len(a1.Tasks()) == 4 })
	stop1()

	// Restart the first instance on its own state directory: every store
	// is current, so nothing is restored from the changelogs.
	a3, stop3 := runApp(t, topo(), cfg(b1))
	defer stop3()
	waitFor(t, "restart to own all tasks", 60*time.Second, func() bool { return len(a3.Tasks()) == 4 })
	produce(t, b.Addr, &kgo.Record{Topic: "sc-in", Key: []byte("k1"), Value: []byte("x")})
	var last int64
	consumeUntil(t, b.Addr, "sc-out", 60*time.Second, func(r *kgo.Record) bool {
		if string(r.Key) == "k1" {
			last, _ = operators.Int64.Deserialize(r.Value)
		}
		return last == 11
	})
	if n := metricSum(t, a3, "sluice_engine_restored_records_total"); n != 0 {
		t.Errorf("restarted instance restored %v changelog records; its local state was current", n)
	}
}

func TestDeadLetterTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 1, "dl-in", "dl-out", "dl-dead")
	bl := operators.NewBuilder()
	operators.StreamOf(bl, "dl-in", operators.String, operators.Int64).To("dl-out")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := operators.Int64.Serialize(nil, 42)
	produce(t, b.Addr,
		&kgo.Record{Topic: "dl-in", Key: []byte("a"), Value: []byte("not an int64")},
		&kgo.Record{Topic: "dl-in", Key: []byte("b"), Value: good})
	app, stop := runApp(t, topo, engine.Config{ApplicationID: "dl", Brokers: []string{b.Addr}, StateDir: t.TempDir(), DeadLetterTopic: "dl-dead"})
	defer stop()
	consumeUntil(t, b.Addr, "dl-out", 30*time.Second, func(r *kgo.Record) bool { return string(r.Key) == "b" })
	consumeUntil(t, b.Addr, "dl-dead", 30*time.Second, func(r *kgo.Record) bool {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if string(r.Value) != "not an int64" || h["sluice.topic"] != "dl-in" || h["sluice.offset"] != "0" || !strings.Contains(h["sluice.error"], "int64 needs 8 bytes") {
			t.Fatalf("dead letter %q headers %v", r.Value, h)
		}
		return true
	})
	if n := metricSum(t, app, "sluice_engine_bad_records_total"); n != 1 {
		t.Errorf("bad records metric = %v", n)
	}
}
