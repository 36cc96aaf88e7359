// Command dsl is the payments example written with Sluice's Go DSL instead
// of a pipeline file: payments deduplicated by payment_id (gateways retry),
// enriched with their card's account from a table (a left join: foreign
// cards have no account), and a velocity check that flags every payment
// that makes its card's count in the five minutes up to it exceed a limit
// (sliding windows on event time).
//
// It reads the topics the example's generator writes and writes to its own,
// so it can run next to the YAML pipeline. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/payments"
	"github.com/sluicehq/sluice/operators"
)

// Output topics of the DSL version.
const (
	EnrichedTopic = "payments.dsl.enriched"
	FlaggedTopic  = "payments.dsl.flagged"
)

// Enriched is a payment with its card's account.
type Enriched struct {
	payments.Payment
	Owner       string `json:"owner"`
	Country     string `json:"country"`
	Status      string `json:"status"`
	OverLimit   bool   `json:"over_limit"`
	BlockedCard bool   `json:"blocked_card"`
}

// Flag says a card made too many payments in five minutes.
type Flag struct {
	CardID   string    `json:"card_id"`
	Payments int       `json:"payments"`
	Total    float64   `json:"total"`
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
	Reason   string    `json:"reason"`
}

// velocity is the sliding-window aggregate of one card.
type velocity struct {
	N     int       `json:"n"`
	Total float64   `json:"total"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// seenStore remembers payment ids for ten minutes of event time: the TTL
// bounds the store however many payments flow through.
var seenStore = operators.NewKeyValueStore("payment-ids", operators.String, operators.Int64, operators.TTL(10*time.Minute))

// dedupe drops a payment whose id was seen in the last ten minutes. It is
// written with the processor API: the DSL has no dedupe operator.
type dedupe struct {
	ctx  operators.ProcessorContext[string, payments.Payment]
	seen operators.KeyValueStore[string, int64]
}

func (d *dedupe) Init(ctx operators.ProcessorContext[string, payments.Payment]) error {
	d.ctx = ctx
	var err error
	d.seen, err = seenStore.From(ctx)
	return err
}

func (d *dedupe) Process(r operators.Record[string, payments.Payment]) error {
	_, dup, err := d.seen.Get(r.Value.PaymentID)
	if err != nil || dup {
		return err
	}
	if err := d.seen.Put(r.Value.PaymentID, r.Timestamp); err != nil {
		return err
	}
	d.ctx.Forward(r)
	return nil
}

func (d *dedupe) Close() error { return nil }

// Topology builds enrichment and the velocity check. Payments and accounts
// are both keyed by card_id, so the join needs no repartition.
func Topology(paymentsTopic, accountsTopic string, maxPer5m int) (*operators.Topology, error) {
	b := operators.NewBuilder()
	b.AddStore(seenStore)
	pays := operators.StreamOf(b, paymentsTopic, operators.String, operators.JSON[payments.Payment](),
		operators.TimestampFrom(func(_ string, p payments.Payment, _ int64) int64 { return p.TS.UnixMilli() }))
	accounts := operators.TableOf(b, accountsTopic, operators.String, operators.JSON[payments.Account](),
		operators.Materialized("accounts"))
	unique := operators.ProcessValues(pays, func() operators.Processor[string, payments.Payment, string, payments.Payment] { return &dedupe{} },
		[]string{seenStore.Name()}, operators.Named("dedupe")).WithSerdes(operators.String, operators.JSON[payments.Payment]())

	operators.LeftJoinTable(unique, accounts, func(_ string, p payments.Payment, a *payments.Account) Enriched {
		e := Enriched{Payment: p, Owner: "unknown", Country: "unknown", Status: "unknown"}
		if a != nil {
			e.Owner, e.Country, e.Status = a.Owner, a.Country, a.Status
			e.OverLimit = p.Amount > a.DailyLimit
			e.BlockedCard = a.Status == "blocked"
		}
		return e
	}).WithSerdes(operators.String, operators.JSON[Enriched]()).To(EnrichedTopic)

	// For each payment: the card's payments in the five minutes up to it.
	windows := unique.GroupByKey().WindowedBy(operators.Sliding(5 * time.Minute))
	counts := operators.AggregateWindowed(windows, func() velocity { return velocity{} },
		func(_ string, p payments.Payment, v velocity) velocity {
			v.N++
			v.Total += p.Amount
			if v.First.IsZero() || p.TS.Before(v.First) {
				v.First = p.TS
			}
			if p.TS.After(v.Last) {
				v.Last = p.TS
			}
			return v
		}, operators.JSON[velocity](), operators.Materialized("card-velocity"))
	flagged := counts.ToStream().Filter(func(_ operators.Windowed[string], v velocity) bool { return v.N > maxPer5m })
	reason := fmt.Sprintf("more than %d payments in 5 minutes", maxPer5m)
	operators.Map(flagged, func(w operators.Windowed[string], v velocity) (string, Flag) {
		return w.Key, Flag{CardID: w.Key, Payments: v.N, Total: math.Round(v.Total*100) / 100, FirstAt: v.First, LastAt: v.Last, Reason: reason}
	}).WithSerdes(operators.String, operators.JSON[Flag]()).To(FlaggedTopic)
	return b.Build()
}

func main() {
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	brokers := flag.String("brokers", env("SLUICE_BROKERS", "127.0.0.1:9092"), "comma-separated bootstrap brokers")
	appID := flag.String("app-id", "payments-dsl", "application id: consumer group and internal topic prefix")
	maxPer5m := flag.Int("max-per-5m", payments.MaxPer5m, "payments per card in five minutes before a flag")
	stateDir := flag.String("state-dir", "./payments-dsl-state", "directory for local state stores")
	metrics := flag.String("metrics-listen", "", "serve Prometheus /metrics on host:port (off when empty)")
	describe := flag.Bool("describe", false, "print the topology and exit")
	gen := flag.Bool("generate", false, "produce the example's generated accounts and payments and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *gen {
		d := payments.Generate(payments.DefaultConfig())
		if err := Produce(ctx, strings.Split(*brokers, ","), d); err != nil {
			fmt.Fprintln(os.Stderr, "payments-dsl:", err)
			os.Exit(1)
		}
		fmt.Printf("produced %d accounts and %d payments (%d gateway retries)\n", len(d.Accounts), len(d.Payments), d.Retries)
		return
	}
	topo, err := Topology(payments.PaymentsTopic, payments.AccountsTopic, *maxPer5m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "payments-dsl:", err)
		os.Exit(2)
	}
	if *describe {
		fmt.Print(topo.Describe())
		return
	}
	if err := run(ctx, topo, engine.Config{ApplicationID: *appID, Brokers: strings.Split(*brokers, ","), StateDir: *stateDir,
		Registerer: prometheus.DefaultRegisterer}, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "payments-dsl:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, topo *operators.Topology, cfg engine.Config, metrics string) error {
	if metrics != "" {
		srv := &http.Server{Addr: metrics, Handler: promhttp.Handler()}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
	}
	app, err := engine.New(topo, cfg)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// Produce writes a generated data set: accounts first (so the table is
// filled before the payments that need it), then payments, keyed by
// card_id.
func Produce(ctx context.Context, brokers []string, d payments.Data) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, a := range d.Accounts {
		recs = append(recs, &kgo.Record{Topic: payments.AccountsTopic, Key: []byte(a.CardID), Value: a.JSON(), Timestamp: d.Payments[0].TS.Add(-time.Minute)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce accounts: %w", err)
	}
	recs = recs[:0]
	for _, p := range d.Payments {
		recs = append(recs, &kgo.Record{Topic: payments.PaymentsTopic, Key: []byte(p.CardID), Value: p.JSON(), Timestamp: p.TS})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("produce payments: %w", err)
	}
	return nil
}
