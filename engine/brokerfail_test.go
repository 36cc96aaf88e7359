package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// The broker is SIGKILLed and restarted under a running application: the
// application rides it out and every update still arrives.
func TestBrokerKilledUnderApp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 2, "bk-in", "bk-out")
	bl := operators.NewBuilder()
	operators.StreamOf(bl, "bk-in", operators.String, operators.String).GroupByKey().Count(operators.Materialized("n")).ToStream().To("bk-out")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	batch := func(from, to int) []*kgo.Record {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: "bk-in", Key: []byte(fmt.Sprintf("k%d", i%10)), Value: []byte("x")})
		}
		return recs
	}
	produce(t, b.Addr, batch(0, 200)...)
	app, stop := runApp(t, topo, engine.Config{ApplicationID: "bk", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	defer stop()
	waitFor(t, "first batch", 30*time.Second, func() bool { return metricSum(t, app, "sluice_engine_records_in_total") >= 200 })

	b.Kill()
	time.Sleep(2 * time.Second) // commits fail meanwhile
	b.StartAgain()
	produce(t, b.Addr, batch(200, 400)...)

	got := map[string]int64{}
	consumeUntil(t, b.Addr, "bk-out", 90*time.Second, func(r *kgo.Record) bool {
		n, _ := operators.Int64.Deserialize(r.Value)
		got[string(r.Key)] = max(got[string(r.Key)], n)
		for i := 0; i < 10; i++ {
			if got[fmt.Sprintf("k%d", i)] < 40 {
				return false
			}
		}
		return true
	})
}
