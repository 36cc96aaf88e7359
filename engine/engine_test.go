package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

func createTopics(t testing.TB, addr string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
}

func produce(t *testing.T, addr string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consumeUntil reads topic from the start until done returns true.
func consumeUntil(t *testing.T, addr, topic string, timeout time.Duration, done func(r *kgo.Record) bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: timed out", topic)
		}
		stop := false
		fs.EachRecord(func(r *kgo.Record) {
			if !stop && done(r) {
				stop = true
			}
		})
		if stop {
			return
		}
	}
}

func wordCount(in, out string) *operators.Topology {
	b := operators.NewBuilder()
	lines := operators.StreamOf(b, in, operators.String, operators.String)
	words := operators.FlatMapValues(lines, func(_ string, line string, emit func(string)) {
		for _, w := range strings.Fields(line) {
			emit(w)
		}
	}).WithSerdes(operators.String, operators.String)
	counts := operators.GroupBy(words, func(_ string, w string) string { return w }, operators.String, operators.Named("words")).
		Count(operators.Materialized("counts"))
	counts.ToStream().To(out)
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	return topo
}

func runApp(t *testing.T, topo *operators.Topology, cfg engine.Config) (*engine.App, func()) {
	t.Helper()
	app, err := engine.New(topo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	return app, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("app did not stop")
		}
	}
}

func TestWordCountOnBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	createTopics(t, b.Addr, 2, "lines", "counts-out")
	var recs []*kgo.Record
	want := map[string]int64{}
	for i := 0; i < 200; i++ {
		line := fmt.Sprintf("w%d w%d common", i%7, i%3)
		for _, w := range strings.Fields(line) {
			want[w]++
		}
		recs = append(recs, &kgo.Record{Topic: "lines", Key: []byte(fmt.Sprint(i)), Value: []byte(line)})
	}
	produce(t, b.Addr, recs...)
	_, stop := runApp(t, wordCount("lines", "counts-out"), engine.Config{
		ApplicationID: "wc", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 100 * time.Millisecond,
	})
	defer stop()
	got := map[string]int64{}
	consumeUntil(t, b.Addr, "counts-out", 60*time.Second, func(r *kgo.Record) bool {
		n, err := operators.Int64.Deserialize(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got[string(r.Key)] = max(got[string(r.Key)], n)
		for w, c := range want {
			if got[w] != c {
				return false
			}
		}
		return true
	})
}

func TestMissingSourceTopic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	app, err := engine.New(wordCount("nope", "out"), engine.Config{ApplicationID: "x", Brokers: []string{b.Addr}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Run(ctx); !errors.Is(err, engine.ErrMissingSourceTopic) {
		t.Fatalf("err = %v", err)
	}
}
