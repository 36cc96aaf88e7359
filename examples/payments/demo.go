package payments

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce writes the accounts (to accountsTopic) and then the payments (to
// paymentsTopic), both keyed by card_id with their event time as the
// record timestamp, counting acknowledged payments in done. It returns the
// number of payments.
func Produce(ctx context.Context, cl *kgo.Client, accountsTopic, paymentsTopic string, d Data, done *atomic.Int64) (int64, error) {
	var accs []*kgo.Record
	for _, a := range d.Accounts {
		accs = append(accs, &kgo.Record{Topic: accountsTopic, Key: []byte(a.CardID), Value: a.JSON(), Timestamp: d.Payments[0].TS.Add(-1)})
	}
	// Accounts first, and acknowledged, so that payments find them.
	if err := cl.ProduceSync(ctx, accs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("accounts: %w", err)
	}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, p := range d.Payments {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Topic: paymentsTopic, Key: []byte(p.CardID), Value: p.JSON(), Timestamp: p.TS}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				once.Do(func() { first = err })
				return
			}
			done.Add(1)
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return int64(len(d.Payments)), first
}

// Summary tells the user where the demo's output is and shows some of it.
func Summary(w io.Writer, out, sluice string, pg bool) {
	enriched := filepath.Join(out, "enriched.jsonl")
	flagged := filepath.Join(out, "flagged.jsonl")
	fmt.Fprintf(w, "Output in %s:\n", out)
	fmt.Fprintf(w, "  %-16s %d payments with their account (gateway retries removed)\n", "enriched.jsonl", countLines(enriched))
	fmt.Fprintf(w, "  %-16s %d velocity flags\n", "flagged.jsonl", countLines(flagged))
	fmt.Fprintln(w, "\nFirst enriched payments:")
	head(w, enriched, 3)
	fmt.Fprintln(w, "\nFirst flags:")
	head(w, flagged, 3)
	if pg {
		fmt.Fprintln(w, "\nIn PostgreSQL: tables payments and flagged_cards, e.g.")
		fmt.Fprintln(w, "  psql \"$SLUICE_PG_DSN\" -c 'select card_id, count(*) from flagged_cards group by 1'")
	}
	fmt.Fprintln(w, "\nRun it yourself against a broker (see examples/payments/README.md):")
	fmt.Fprintf(w, "  %s serve --data-dir ./data &\n", sluice)
	fmt.Fprintf(w, "  %s run examples/payments/pipeline.yaml &\n", sluice)
	fmt.Fprintf(w, "  %s consume payments.flagged\n", sluice)
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

func head(w io.Writer, path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(w, "  (none: %v)\n", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		fmt.Fprintf(w, "  %s\n", sc.Text())
	}
}
