package postgres

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func newPoll() connectors.Source { return NewPollSource() }

func rowsOf(t *testing.T, recs []connectors.Record, field string) string {
	var out []string
	for _, r := range recs {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("value %s: %v", r.Value, err)
		}
		out = append(out, fmt.Sprint(m[field]))
	}
	return strings.Join(out, " ")
}

func TestPollIncrementingAcrossRestart(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE events (id bigserial PRIMARY KEY, what text, amount numeric(10,2), at timestamptz DEFAULT now())`)
	pg.Exec(t, `INSERT INTO events (what, amount) SELECT 'e' || g, g / 4.0 FROM generate_series(1, 5) g`)
	h := newSourceHarness(t, pg, PollSourceSpec, newPoll, map[string]string{
		"table": "events", "mode": "incrementing", "incrementing.column": "id", "poll.interval": "50ms",
		"max.batch.size": "2", "topic.prefix": "db",
	})
	h.open()
	h.pollUntil(5)
	if got := rowsOf(t, h.log, "what"); got != "e1 e2 e3 e4 e5" {
		t.Fatalf("rows %s", got)
	}
	r := h.log[0]
	if r.Topic != "db.public.events" || string(r.Key) != `{"id":1}` || r.Schema == nil || r.Schema.NumFields() != 4 {
		t.Fatalf("record topic=%s key=%s schema=%v", r.Topic, r.Key, r.Schema)
	}
	if !strings.Contains(string(r.Value), `"amount":"0.25"`) {
		t.Fatalf("value %s", r.Value)
	}
	h.close()
	pg.Exec(t, `INSERT INTO events (what) VALUES ('e6'), ('e7')`)
	h.open()
	h.pollUntil(7)
	if got := rowsOf(t, h.log[5:], "what"); got != "e6 e7" {
		t.Fatalf("after restart: %s", got)
	}
	for i := 0; i < 3; i++ {
		if extra := h.poll(true); len(extra) > 0 {
			t.Fatalf("unexpected rows: %s", rowsOf(t, extra, "what"))
		}
	}
}

func TestPollTimestampIncrementingSeesUpdates(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, v text, updated timestamptz NOT NULL)`)
	pg.Exec(t, `INSERT INTO items SELECT g, 'v' || g, '2024-01-01T00:00:00Z' FROM generate_series(1, 5) g`) // one timestamp for all
	h := newSourceHarness(t, pg, PollSourceSpec, newPoll, map[string]string{
		"table": "items", "mode": "timestamp+incrementing", "incrementing.column": "id", "timestamp.column": "updated",
		"poll.interval": "50ms", "max.batch.size": "2", "topic.prefix": "db",
	})
	h.open()
	h.pollUntil(5)
	if got := rowsOf(t, h.log, "id"); got != "1 2 3 4 5" {
		t.Fatalf("rows %s", got)
	}
	pg.Exec(t, `UPDATE items SET v = 'changed', updated = '2024-01-02T00:00:00Z' WHERE id IN (2, 4)`)
	h.pollUntil(7)
	if got := rowsOf(t, h.log[5:], "id") + " " + rowsOf(t, h.log[5:], "v"); got != "2 4 changed changed" {
		t.Fatalf("updates: %s", got)
	}
}

func TestPollTimestampOnlyKeepsTies(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE ticks (n int, at timestamp NOT NULL)`)
	// Seven rows on one timestamp, more than a batch of 3, then two more.
	pg.Exec(t, `INSERT INTO ticks SELECT g, '2024-01-01 00:00:00' FROM generate_series(1, 7) g`)
	pg.Exec(t, `INSERT INTO ticks VALUES (8, '2024-01-01 00:00:01'), (9, '2024-01-01 00:00:02')`)
	h := newSourceHarness(t, pg, PollSourceSpec, newPoll, map[string]string{
		"query": "SELECT n, at FROM ticks;", "mode": "timestamp", "timestamp.column": "at",
		"poll.interval": "50ms", "max.batch.size": "3", "topic": "ticks",
	})
	h.open()
	h.pollUntil(9)
	seen := map[string]int{}
	for _, n := range strings.Fields(rowsOf(t, h.log, "n")) {
		seen[n]++
	}
	for i := 1; i <= 9; i++ {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("row %d seen %d times: %s", i, seen[fmt.Sprint(i)], rowsOf(t, h.log, "n"))
		}
	}
	if h.log[0].Topic != "" {
		t.Fatalf("topic %q: the worker's topic setting should apply", h.log[0].Topic)
	}
}

func TestPollConfigErrors(t *testing.T) {
	for _, cfg := range []map[string]string{
		{"mode": "incrementing", "incrementing.column": "id"},
		{"table": "t", "query": "SELECT 1", "incrementing.column": "id"},
		{"table": "t", "mode": "timestamp"},
	} {
		raw := map[string]string{"connection.url": "postgres://127.0.0.1:1/x"}
		for k, v := range cfg {
			raw[k] = v
		}
		c, err := PollSourceSpec.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		err = NewPollSource().Open(t.Context(), testTask("x"), c, nil)
		if _, ok := err.(*connectors.ConfigError); !ok {
			t.Errorf("config %v: %v, want a ConfigError", cfg, err)
		}
	}
}
