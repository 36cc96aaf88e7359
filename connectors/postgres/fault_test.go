package postgres

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/pgtest"
)

// TestSinkSurvivesDatabaseOutage stops (or kills) PostgreSQL while the sink
// is writing and starts it again later. The writer behaves like the worker:
// a retriable error means "back off and call Write again with the same
// batch". No one intervenes by hand. Afterwards every record is in the table
// exactly as often as the mode promises.
func TestSinkSurvivesDatabaseOutage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     map[string]string
		outage  func(*pgtest.PG)
		atLeast bool // insert without keys promises at-least-once only
	}{
		{"upsert/stop", map[string]string{"insert.mode": "upsert", "pk.mode": "record_key"}, (*pgtest.PG).Stop, false},
		{"exactly-once/kill", map[string]string{"exactly.once": "true"}, (*pgtest.PG).Kill, false},
		{"insert/stop", nil, (*pgtest.PG).Stop, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pg := startPG(t)
			s := openSink(t, pg, tc.cfg)
			const batches, size = 120, 50
			if testing.Short() {
				t.Skip()
			}
			var done, failures atomic.Int64
			errc := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			go func() {
				for b := 0; b < batches; b++ {
					batch := make([]connectors.Record, size)
					for i := range batch {
						n := b*size + i
						batch[i] = connectors.Record{Topic: "outage", Partition: int32(n % 3), Offset: int64(n / 3),
							Key: []byte(strconv.Itoa(n)), Value: []byte(fmt.Sprintf(`{"n":%d,"v":"value %d"}`, n, n))}
					}
					for {
						err := s.Write(ctx, batch)
						if err == nil {
							break
						}
						if !connectors.IsRetriable(err) {
							errc <- fmt.Errorf("batch %d: %w", b, err)
							return
						}
						failures.Add(1)
						select {
						case <-ctx.Done():
							errc <- fmt.Errorf("batch %d: %w (last error %v)", b, ctx.Err(), err)
							return
						case <-time.After(50 * time.Millisecond):
						}
					}
					done.Add(1)
				}
				errc <- nil
			}()

			waitFor(t, ctx, func() bool { return done.Load() >= batches/4 })
			tc.outage(pg)
			waitFor(t, ctx, func() bool { return failures.Load() >= 3 }) // the writer noticed
			time.Sleep(300 * time.Millisecond)                           // and stays down a while
			pg.Start()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			total := batches * size
			op := "="
			if tc.atLeast {
				op = ">="
			}
			wantRows(t, query(t, pg, `SELECT count(DISTINCT n), count(*) `+op+` count(DISTINCT n), min(n), max(n) FROM outage`),
				fmt.Sprintf("%d|true|0|%d", total, total-1))
			if bad := query(t, pg, `SELECT n FROM outage WHERE v <> 'value ' || n`); len(bad) > 0 {
				t.Fatalf("rows with wrong values: %v", bad)
			}
			t.Logf("%d retriable failures during the outage", failures.Load())
		})
	}
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("condition not reached: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
