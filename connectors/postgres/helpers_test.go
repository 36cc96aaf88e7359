package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/pgtest"
)

func startPG(t *testing.T) *pgtest.PG {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts PostgreSQL")
	}
	return pgtest.Start(t)
}

func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("SLUICE_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func testTask(name string) connectors.TaskInfo {
	return connectors.TaskInfo{Connector: name, Logger: testLogger().With("connector", name)}
}

// openSink opens a sink on pg with the given config (connection.url filled
// in) and closes it when the test ends.
func openSink(t *testing.T, pg *pgtest.PG, raw map[string]string) *Sink {
	t.Helper()
	cfg := map[string]string{"connection.url": pg.DSN()}
	for k, v := range raw {
		cfg[k] = v
	}
	c, err := SinkSpec.Parse(cfg)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s := NewSink()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Open(ctx, testTask("pg-sink-test"), c); err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// write calls Write like the worker does: again after a backoff while the
// error is retriable. It returns the final error (nil or *RecordErrors).
func write(t *testing.T, s connectors.Sink, batch []connectors.Record) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		err := s.Write(ctx, batch)
		if err == nil || !connectors.IsRetriable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("write still failing after 2 minutes: %v", err)
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

func mustWrite(t *testing.T, s connectors.Sink, batch []connectors.Record) {
	t.Helper()
	if err := write(t, s, batch); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// recs builds records on topic/partition 0 from key/value pairs, with
// offsets from first. A "" value is a tombstone; a "" key is no key.
func recs(topic string, first int64, kv ...string) []connectors.Record {
	var out []connectors.Record
	for i := 0; i+1 < len(kv); i += 2 {
		r := connectors.Record{Topic: topic, Offset: first + int64(i/2), Timestamp: time.Unix(1700000000, 0)}
		if kv[i] != "" {
			r.Key = []byte(kv[i])
		}
		if kv[i+1] != "" {
			r.Value = []byte(kv[i+1])
		}
		out = append(out, r)
	}
	return out
}

// query returns the rows of a query as strings, each row's columns joined
// with "|" (NULL as "∅"), in the order the query gives.
func query(t *testing.T, pg *pgtest.PG, sql string, args ...any) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("query %q: %v", sql, err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				parts[i] = "∅"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

func wantRows(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// refusedIndexes returns the indexes a *RecordErrors names, sorted.
func refusedIndexes(t *testing.T, err error) []int {
	t.Helper()
	var re *connectors.RecordErrors
	if !errors.As(err, &re) {
		t.Fatalf("want *RecordErrors, got %v", err)
	}
	var idx []int
	for _, e := range *re {
		idx = append(idx, e.Index)
	}
	sort.Ints(idx)
	return idx
}

func connectPG(ctx context.Context, dsn string) (*pgx.Conn, error) { return pgx.Connect(ctx, dsn) }

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
