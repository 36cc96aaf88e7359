package engine_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// Two streams from topics with different partition counts, re-keyed and
// joined: both sides are repartitioned to the same count and the join
// finds every pair.
func TestRepartitionedStreamJoinOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 2, "j-orders")
	createTopics(t, b.Addr, 3, "j-ships", "j-out")
	bl := operators.NewBuilder()
	// Values are "orderID"; keys are irrelevant noise until re-keyed.
	orders := operators.SelectKey(operators.StreamOf(bl, "j-orders", operators.String, operators.String),
		func(_, v string) string { return v }).WithSerdes(operators.String, operators.String)
	ships := operators.SelectKey(operators.StreamOf(bl, "j-ships", operators.String, operators.String),
		func(_, v string) string { return v }).WithSerdes(operators.String, operators.String)
	operators.Join(orders, ships, func(k, _, _ string) string { return "shipped:" + k }, operators.JoinWindow(time.Minute), operators.Named("o-s")).
		WithSerdes(operators.String, operators.String).To("j-out")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("order-%d", i)
		recs = append(recs,
			&kgo.Record{Topic: "j-orders", Key: []byte(fmt.Sprint(i % 7)), Value: []byte(id), Timestamp: now},
			&kgo.Record{Topic: "j-ships", Key: []byte(fmt.Sprint(i % 5)), Value: []byte(id), Timestamp: now.Add(time.Second)})
	}
	produce(t, b.Addr, recs...)
	_, stop := runApp(t, topo, engine.Config{ApplicationID: "join", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	defer stop()
	seen := map[string]bool{}
	consumeUntil(t, b.Addr, "j-out", 60*time.Second, func(r *kgo.Record) bool {
		if string(r.Value) != "shipped:"+string(r.Key) {
			t.Fatalf("joined %q -> %q", r.Key, r.Value)
		}
		seen[string(r.Key)] = true
		return len(seen) == 50
	})
}

func TestCopartitionMismatchIsAnError(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 2, "cp-a")
	createTopics(t, b.Addr, 3, "cp-b")
	bl := operators.NewBuilder()
	a := operators.StreamOf(bl, "cp-a", operators.String, operators.String)
	tb := operators.TableOf(bl, "cp-b", operators.String, operators.String)
	operators.JoinTable(a, tb, func(_, v, row string) string { return v + row }).WithSerdes(operators.String, operators.String).To("cp-out")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	app, err := engine.New(topo, engine.Config{ApplicationID: "cp", Brokers: []string{b.Addr}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Run(t.Context()); !errors.Is(err, engine.ErrCopartition) {
		t.Fatalf("err = %v", err)
	}
}

// A foreign-key join between tables with different partition counts runs
// through its subscription and response topics on a real broker.
func TestForeignKeyJoinOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 2, "fk-orders", "fk-out")
	createTopics(t, b.Addr, 3, "fk-customers")
	bl := operators.NewBuilder()
	orders := operators.TableOf(bl, "fk-orders", operators.String, operators.String) // value: customer id
	customers := operators.TableOf(bl, "fk-customers", operators.String, operators.String)
	operators.JoinForeignKey(orders, customers, func(c string) string { return c },
		func(o, c, name string) string { return o + ":" + name }, operators.String, operators.Named("o-c")).ToStream().To("fk-out")
	topo, err := bl.Build()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []*kgo.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, &kgo.Record{Topic: "fk-customers", Key: []byte(fmt.Sprintf("c%d", i)), Value: []byte(fmt.Sprintf("name%d", i)), Timestamp: now})
	}
	for i := 0; i < 30; i++ {
		recs = append(recs, &kgo.Record{Topic: "fk-orders", Key: []byte(fmt.Sprintf("o%d", i)), Value: []byte(fmt.Sprintf("c%d", i%5)), Timestamp: now.Add(time.Second)})
	}
	produce(t, b.Addr, recs...)
	_, stop := runApp(t, topo, engine.Config{ApplicationID: "fk", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond})
	defer stop()
	got := map[string]string{}
	consumeUntil(t, b.Addr, "fk-out", 60*time.Second, func(r *kgo.Record) bool {
		got[string(r.Key)] = string(r.Value)
		if len(got) < 30 {
			return false
		}
		for i := 0; i < 30; i++ {
			if got[fmt.Sprintf("o%d", i)] != fmt.Sprintf("o%d:name%d", i, i%5) {
				return false
			}
		}
		return true
	})
}
