package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// A table regrouped by another column on a broker: rows that move between
// groups leave the old group's count, through the repartition topic.
func TestGroupTableByOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 3, "gt-users", "gt-counts")
	bl := operators.NewBuilder()
	users := operators.TableOf(bl, "gt-users", operators.String, operators.String) // user -> city
	operators.GroupTableBy(users, func(_, city string) (string, string) { return city, "" }, operators.String, operators.String,
		operators.Named("by-city")).Count(operators.Materialized("city-counts")).ToStream().To("gt-counts")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []*kgo.Record
	want := map[string]int64{}
	city := map[string]string{}
	for i := 0; i < 90; i++ {
		u := fmt.Sprintf("user-%d", i%30)
		c := []string{"oslo", "lima", "pune"}[(i*7)%3]
		if i%11 == 10 {
			recs = append(recs, &kgo.Record{Topic: "gt-users", Key: []byte(u), Timestamp: now}) // delete
			delete(city, u)
			continue
		}
		recs = append(recs, &kgo.Record{Topic: "gt-users", Key: []byte(u), Value: []byte(c), Timestamp: now})
		city[u] = c
	}
	for _, c := range city {
		want[c]++
	}
	produce(t, b.Addr, recs...)
	_, stop := runApp(t, topo, engine.Config{ApplicationID: "gt", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	got := map[string]int64{}
	done := func() bool {
		for c, n := range want {
			if got[c] != n {
				return false
			}
		}
		return true
	}
	consumeUntil(t, b.Addr, "gt-counts", 60*time.Second, func(r *kgo.Record) bool {
		n, err := operators.Int64.Deserialize(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[string(r.Key)] = n
		return done()
	})
	// The counts can pass through the right values on the way: stop the
	// application (everything flushed) and check the last count of each
	// city.
	stop()
	clear(got)
	for _, r := range readTopic(t, b.Addr, "gt-counts") {
		n, err := operators.Int64.Deserialize(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[string(r.Key)] = n
	}
	if !done() || len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	if d := topo.Describe(); !strings.Contains(d, "by-city-repartition") {
		t.Errorf("no repartition topic in\n%s", d)
	}
}
