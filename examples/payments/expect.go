package payments

import (
	"sort"
	"time"
)

// Flag is one expected result of the velocity check: the payment at At
// made Count payments on Card within the five minutes up to it.
type Flag struct {
	Card  string
	At    time.Time
	Count int
	Total float64
}

// Unique returns the payments with gateway retries (repeated payment_ids
// within ten minutes) removed, in order.
func (d Data) Unique() []Payment {
	seen := map[string]time.Time{}
	var out []Payment
	for _, p := range d.Payments {
		if t, ok := seen[p.PaymentID]; ok && p.TS.Sub(t) <= 10*time.Minute && t.Sub(p.TS) <= 10*time.Minute {
			continue
		}
		seen[p.PaymentID] = p.TS
		out = append(out, p)
	}
	return out
}

// ExpectedFlags computes, by brute force, what the velocity pipeline must
// flag: for each unique payment, the payments of its card with times in
// [ts-5m, ts], when there are more than max of them.
func (d Data) ExpectedFlags(max int) []Flag {
	byCard := map[string][]Payment{}
	for _, p := range d.Unique() {
		byCard[p.CardID] = append(byCard[p.CardID], p)
	}
	var out []Flag
	for card, ps := range byCard {
		for i, p := range ps {
			n, total := 0, 0.0
			for _, q := range ps[:i+1] {
				if !q.TS.Before(p.TS.Add(-5 * time.Minute)) {
					n++
					total += q.Amount
				}
			}
			if n > max {
				out = append(out, Flag{Card: card, At: p.TS, Count: n, Total: total})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Card != out[j].Card {
			return out[i].Card < out[j].Card
		}
		return out[i].At.Before(out[j].At)
	})
	return out
}
