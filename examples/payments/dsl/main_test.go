package main

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/payments"
	"github.com/sluicehq/sluice/internal/brokertest"
)

func TestPaymentsDSLExample(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker")
	}
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(EnrichedTopic, FlaggedTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 3, 1, nil, payments.PaymentsTopic, EnrichedTopic, FlaggedTopic); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, payments.AccountsTopic); err != nil {
		t.Fatal(err)
	}
	cfg := payments.Config{Seed: 7, Cards: 60, Payments: 800, Duration: 20 * time.Minute, Bursts: 3,
		Start: time.Now().UTC().Truncate(time.Second).Add(-20 * time.Minute)}
	d := payments.Generate(cfg)
	if err := Produce(ctx, []string{b.Addr}, d); err != nil {
		t.Fatal(err)
	}
	wantFlags := d.ExpectedFlags(payments.MaxPer5m)
	unique := d.Unique()
	accounts := map[string]payments.Account{}
	for _, a := range d.Accounts {
		accounts[a.CardID] = a
	}
	topo, err := Topology(payments.PaymentsTopic, payments.AccountsTopic, payments.MaxPer5m)
	if err != nil {
		t.Fatal(err)
	}
	appCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(appCtx, topo, engine.Config{ApplicationID: "payments-dsl", Brokers: []string{b.Addr}, StateDir: t.TempDir(), CommitInterval: 200 * time.Millisecond}, "")
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	enriched := map[string]Enriched{}
	flags := map[string]Flag{}
	for len(enriched) < len(unique) || len(flags) < len(wantFlags) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out: %d/%d enriched, %d/%d flags", len(enriched), len(unique), len(flags), len(wantFlags))
		}
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case EnrichedTopic:
				var e Enriched
				if err := json.Unmarshal(r.Value, &e); err != nil {
					t.Fatal(err)
				}
				if _, dup := enriched[e.PaymentID]; dup {
					t.Errorf("payment %s enriched twice: dedupe failed", e.PaymentID)
				}
				enriched[e.PaymentID] = e
			case FlaggedTopic:
				var f Flag
				if err := json.Unmarshal(r.Value, &f); err != nil {
					t.Fatal(err)
				}
				flags[fmt.Sprintf("%s@%s#%d", f.CardID, f.LastAt.Format(time.RFC3339Nano), f.Payments)] = f
			}
		})
	}
	if len(enriched) != len(unique) {
		t.Errorf("%d enriched payments, want %d (unique)", len(enriched), len(unique))
	}
	// The engine processes a task's partitions in timestamp order, and the
	// accounts are older than every payment, so every payment of a known
	// card carries its account.
	for _, e := range enriched {
		a, ok := accounts[e.CardID]
		switch {
		case ok && (e.Owner != a.Owner || e.Country != a.Country || e.BlockedCard != (a.Status == "blocked")):
			t.Errorf("payment %s: enriched as %+v, account %+v", e.PaymentID, e, a)
		case !ok && e.Owner != "unknown":
			t.Errorf("payment %s of a foreign card: owner %q", e.PaymentID, e.Owner)
		}
	}
	for _, w := range wantFlags {
		k := fmt.Sprintf("%s@%s#%d", w.Card, w.At.Format(time.RFC3339Nano), w.Count)
		f, ok := flags[k]
		if !ok {
			t.Errorf("missing flag %s", k)
			continue
		}
		if f.Total != w.Total && fmt.Sprintf("%.2f", f.Total) != fmt.Sprintf("%.2f", w.Total) {
			t.Errorf("flag %s: total %.2f, want %.2f", k, f.Total, w.Total)
		}
	}
	if len(flags) != len(wantFlags) {
		t.Errorf("%d flags, want %d", len(flags), len(wantFlags))
	}
}
