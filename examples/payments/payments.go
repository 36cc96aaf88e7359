// Package payments is the payments example: a deterministic generator of
// card accounts and payments (with gateway retries and a few card-testing
// bursts), and the pipeline files that enrich payments with their account,
// flag cards with too many payments in five minutes, and write both to
// PostgreSQL. `sluice demo payments` runs it end to end.
package payments

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"
)

// PipelineYAML is pipeline.yaml: enrichment and the velocity check.
//
//go:embed pipeline.yaml
var PipelineYAML []byte

// PostgresYAML is postgres.yaml: both results into PostgreSQL.
//
//go:embed postgres.yaml
var PostgresYAML []byte

// Topics of the example (the defaults of the pipeline files).
const (
	PaymentsTopic = "payments"
	AccountsTopic = "payments.accounts"
	EnrichedTopic = "payments.enriched"
	FlaggedTopic  = "payments.flagged"
	// MaxPer5m is the default velocity limit: more payments than this on
	// one card within five minutes are flagged.
	MaxPer5m = 5
)

// Account is a card account, produced to payments.accounts keyed by
// card_id (a compacted topic: the latest row per card).
type Account struct {
	CardID     string  `json:"card_id"`
	Owner      string  `json:"owner"`
	Country    string  `json:"country"`
	DailyLimit float64 `json:"daily_limit"`
	Status     string  `json:"status"`
}

// Payment is one card payment, produced to payments keyed by card_id.
type Payment struct {
	PaymentID string    `json:"payment_id"`
	CardID    string    `json:"card_id"`
	Amount    float64   `json:"amount"`
	Currency  string    `json:"currency"`
	Merchant  string    `json:"merchant"`
	TS        time.Time `json:"ts"`
}

// JSON is the record value.
func (a Account) JSON() []byte { b, _ := json.Marshal(a); return b }

// JSON is the record value.
func (p Payment) JSON() []byte { b, _ := json.Marshal(p); return b }

// Config shapes the generated data; the same config gives the same data.
type Config struct {
	Seed  uint64
	Cards int
	// Payments is the number of distinct payments (retries come on top).
	Payments int
	Duration time.Duration
	Start    time.Time
	// Bursts is how many cards are used for card testing: many small
	// payments within a few minutes.
	Bursts int
}

// DefaultConfig is the demo's data: half an hour of payments ending now
// (recent event times: retention deletes records by their timestamps). The
// values depend only on the seed.
func DefaultConfig() Config {
	return Config{Seed: 7, Cards: 200, Payments: 3000, Duration: 30 * time.Minute, Bursts: 4,
		Start: time.Now().UTC().Truncate(time.Second).Add(-30 * time.Minute)}
}

// Data is a generated data set.
type Data struct {
	Accounts []Account
	// Payments in timestamp order, gateway retries (same payment_id)
	// included.
	Payments []Payment
	// Retries is how many entries of Payments repeat an earlier one.
	Retries int
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "John"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Backus"}
	countries  = []string{"DE", "FR", "NL", "ES", "IT", "PL", "SE"}
	merchants  = []string{"grocer", "fuel", "bookshop", "pharmacy", "cafe", "electronics", "rail", "cinema", "bakery", "hardware"}
)

// Generate makes a data set.
func Generate(cfg Config) Data {
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed*31+17))
	var d Data
	for i := 0; i < cfg.Cards; i++ {
		status := "active"
		if rng.IntN(30) == 0 {
			status = "blocked"
		}
		d.Accounts = append(d.Accounts, Account{
			CardID:     fmt.Sprintf("card-%04d", i+1),
			Owner:      firstNames[rng.IntN(len(firstNames))] + " " + lastNames[rng.IntN(len(lastNames))],
			Country:    countries[rng.IntN(len(countries))],
			DailyLimit: float64(100 * (1 + rng.IntN(50))),
			Status:     status,
		})
	}
	seq := 0
	newPayment := func(card string, amount float64, ts time.Time) Payment {
		seq++
		return Payment{PaymentID: fmt.Sprintf("pay-%06d", seq), CardID: card, Amount: amount, Currency: "EUR",
			Merchant: merchants[rng.IntN(len(merchants))], TS: ts.UTC()}
	}
	// Ordinary spending: log-normal amounts at random times. One payment
	// in twenty comes from a card no account exists for (a foreign
	// card), to show a left join.
	burstPayments := 0
	for i := 0; i < cfg.Bursts; i++ {
		burstPayments += 8 + i%5
	}
	for i := 0; i < cfg.Payments-burstPayments; i++ {
		card := d.Accounts[rng.IntN(len(d.Accounts))].CardID
		if rng.IntN(20) == 0 {
			card = fmt.Sprintf("card-x%03d", rng.IntN(100))
		}
		amount := math.Round(math.Exp(3+rng.NormFloat64())*100) / 100
		ts := cfg.Start.Add(time.Duration(rng.Int64N(int64(cfg.Duration))))
		d.Payments = append(d.Payments, newPayment(card, amount, ts))
	}
	// Card testing: a stolen card tried with many small payments within a
	// few minutes.
	for i := 0; i < cfg.Bursts; i++ {
		card := d.Accounts[rng.IntN(len(d.Accounts))].CardID
		start := cfg.Start.Add(time.Duration(rng.Int64N(int64(cfg.Duration - 5*time.Minute))))
		for j := 0; j < 8+i%5; j++ {
			ts := start.Add(time.Duration(j)*20*time.Second + time.Duration(rng.IntN(10))*time.Second)
			d.Payments = append(d.Payments, newPayment(card, float64(1+rng.IntN(5)), ts))
		}
	}
	// Gateway retries: about one payment in fifty is sent again, with the
	// same payment_id, a few seconds later.
	n := len(d.Payments)
	for i := 0; i < n; i++ {
		if rng.IntN(50) == 0 {
			p := d.Payments[i]
			p.TS = p.TS.Add(time.Duration(1+rng.IntN(5)) * time.Second)
			d.Payments = append(d.Payments, p)
			d.Retries++
		}
	}
	sort.SliceStable(d.Payments, func(i, j int) bool { return d.Payments[i].TS.Before(d.Payments[j].TS) })
	return d
}
