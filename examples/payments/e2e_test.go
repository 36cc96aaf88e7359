package payments_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/examples/payments"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/internal/pgtest"
	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines/runner/runnertest"
)

func testData() payments.Data {
	cfg := payments.DefaultConfig()
	cfg.Cards, cfg.Payments, cfg.Bursts = 60, 600, 3
	cfg.Duration = 15 * time.Minute
	cfg.Start = time.Now().UTC().Truncate(time.Second).Add(-15 * time.Minute)
	return payments.Generate(cfg)
}

// startPayments runs the example's pipelines on a real broker over the
// test data and returns when they have processed it.
func startPayments(t *testing.T, dsn string) (*kgo.Client, string, payments.Data) {
	t.Helper()
	b := brokertest.Start(t)
	out := t.TempDir()
	env := map[string]string{"PAYMENTS_OUT": out}
	files := map[string][]byte{"pipeline.yaml": payments.PipelineYAML}
	if dsn != "" {
		env["SLUICE_PG_DSN"] = dsn
		files["postgres.yaml"] = payments.PostgresYAML
	}
	run := runnertest.Start(t, []string{b.Addr}, files, env)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	run.WaitTopics(cl, payments.PaymentsTopic, payments.AccountsTopic)
	data := testData()
	var done atomic.Int64
	n, err := payments.Produce(context.Background(), cl, payments.AccountsTopic, payments.PaymentsTopic, data, &done)
	if err != nil || done.Load() != n {
		t.Fatalf("produce: %d of %d: %v", done.Load(), n, err)
	}
	run.WaitSettled(3 * time.Minute)
	run.Stop()
	return cl, out, data
}

type enriched struct {
	PaymentID   string  `json:"payment_id"`
	CardID      string  `json:"card_id"`
	Amount      float64 `json:"amount"`
	Owner       string  `json:"owner"`
	Country     string  `json:"country"`
	Status      string  `json:"status"`
	OverLimit   bool    `json:"over_limit"`
	BlockedCard bool    `json:"blocked_card"`
}

// TestPaymentsEndToEnd checks every enriched payment against its account
// and the flags against a brute-force velocity count.
func TestPaymentsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve")
	}
	cl, out, data := startPayments(t, "")
	accounts := map[string]payments.Account{}
	for _, a := range data.Accounts {
		accounts[a.CardID] = a
	}
	unique := data.Unique()
	if data.Retries == 0 || len(unique) != len(data.Payments)-data.Retries {
		t.Fatalf("test data: %d payments, %d retries, %d unique", len(data.Payments), data.Retries, len(unique))
	}
	want := map[string]payments.Payment{}
	for _, p := range unique {
		want[p.PaymentID] = p
	}

	recs := consumeAll(t, cl, payments.EnrichedTopic)
	if len(recs) != len(unique) {
		t.Errorf("payments.enriched: %d records, want %d (one per payment, retries removed)", len(recs), len(unique))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var e enriched
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		p, ok := want[e.PaymentID]
		if !ok || seen[e.PaymentID] {
			t.Errorf("enriched payment %s: unexpected or repeated", e.PaymentID)
			continue
		}
		seen[e.PaymentID] = true
		wantE := enriched{PaymentID: p.PaymentID, CardID: p.CardID, Amount: p.Amount, Owner: "unknown", Country: "unknown", Status: "unknown"}
		if a, ok := accounts[p.CardID]; ok {
			wantE.Owner, wantE.Country, wantE.Status = a.Owner, a.Country, a.Status
			wantE.OverLimit = p.Amount > a.DailyLimit
			wantE.BlockedCard = a.Status == "blocked"
		}
		if e != wantE {
			t.Errorf("enriched %s = %+v, want %+v", e.PaymentID, e, wantE)
		}
	}
	if n := lines(t, filepath.Join(out, "enriched.jsonl")); n != len(unique) {
		t.Errorf("enriched.jsonl: %d lines, want %d", n, len(unique))
	}

	wantFlags := data.ExpectedFlags(payments.MaxPer5m)
	if len(wantFlags) == 0 {
		t.Fatal("test data: no card over the limit")
	}
	flagged := consumeAll(t, cl, payments.FlaggedTopic)
	compareFlags(t, FlagsOf(t, flagged), wantFlags)
	if n := lines(t, filepath.Join(out, "flagged.jsonl")); n != len(wantFlags) {
		t.Errorf("flagged.jsonl: %d lines, want %d", n, len(wantFlags))
	}
}

// TestPaymentsPostgres checks the two tables the PostgreSQL pipelines
// write.
func TestPaymentsPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve and PostgreSQL")
	}
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase(t, "payments")
	_, _, data := startPayments(t, dsn)
	conn := pg.ConnectTo(t, "payments")
	ctx := context.Background()
	var n, foreign int
	var total float64
	if err := conn.QueryRow(ctx, `select count(*), count(*) filter (where owner = 'unknown'), coalesce(sum(amount::float8), 0) from payments`).Scan(&n, &foreign, &total); err != nil {
		t.Fatal(err)
	}
	unique := data.Unique()
	wantForeign, wantTotal := 0, 0.0
	for _, p := range unique {
		if strings.HasPrefix(p.CardID, "card-x") {
			wantForeign++
		}
		wantTotal += p.Amount
	}
	if n != len(unique) || foreign != wantForeign || math.Abs(total-wantTotal) > 0.01 {
		t.Errorf("payments table: %d rows (%d unknown cards), total %.2f; want %d (%d), %.2f", n, foreign, total, len(unique), wantForeign, wantTotal)
	}
	var flags int
	if err := conn.QueryRow(ctx, `select count(*) from flagged_cards`).Scan(&flags); err != nil {
		t.Fatal(err)
	}
	if want := len(data.ExpectedFlags(payments.MaxPer5m)); flags != want {
		t.Errorf("flagged_cards: %d rows, want %d", flags, want)
	}
}

func consumeAll(t *testing.T, cl *kgo.Client, topic string) []operators.OutputRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	ends.Each(func(o kadm.ListedOffset) { end += o.Offset })
	c, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []operators.OutputRecord
	for int64(len(out)) < end {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d of %d records", topic, len(out), end)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, operators.OutputRecord{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp.UnixMilli()})
		})
	}
	return out
}

func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}
