package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
)

func TestWordCountExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics("word-counts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopics(ctx, 2, 1, nil, "text-lines", "word-counts"); err != nil {
		t.Fatal(err)
	}
	lines := []string{"The quick brown fox", "jumps over the lazy dog.", "The dog sleeps; the FOX runs!"}
	for _, l := range lines {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "text-lines", Value: []byte(l)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	topo, err := Topology("text-lines", "word-counts")
	if err != nil {
		t.Fatal(err)
	}
	appCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(appCtx, topo, engine.Config{ApplicationID: "wordcount", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 200 * time.Millisecond}, "")
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	want := map[string]int{"the": 4, "quick": 1, "brown": 1, "fox": 2, "jumps": 1, "over": 1, "lazy": 1, "dog": 2, "sleeps": 1, "runs": 1}
	got := map[string]int{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out; counts so far %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n, err := strconv.Atoi(string(r.Value))
			if err != nil {
				t.Fatalf("value %q: %v", r.Value, err)
			}
			got[string(r.Key)] = n
		})
		match := len(got) == len(want)
		for w, n := range want {
			match = match && got[w] == n
		}
		if match {
			return
		}
		for w := range got {
			if _, ok := want[w]; !ok {
				t.Fatalf("unexpected word %q (tokenizer): %v", w, got)
			}
		}
		_ = strings.ToLower
	}
}
