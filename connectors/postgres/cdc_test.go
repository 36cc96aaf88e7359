package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

func newCDC() connectors.Source { return NewCDCSource() }

// summary renders a record as "topic key op after" for comparisons.
func summary(t *testing.T, r connectors.Record) string {
	ev, tomb := decodeEvent(t, r)
	if tomb {
		return fmt.Sprintf("%s %s tombstone", r.Topic, r.Key)
	}
	row := ev.After
	if row == nil {
		row = ev.Before
	}
	return fmt.Sprintf("%s %s %s %v", r.Topic, r.Key, ev.Op, row)
}

func summaries(t *testing.T, recs []connectors.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = summary(t, r)
	}
	return out
}

func wantSummaries(t *testing.T, got []connectors.Record, want ...string) {
	t.Helper()
	g := summaries(t, got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

func TestCDCSnapshotThenStreamAcrossRestart(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2))`)
	pg.Exec(t, `CREATE TABLE ignored (id int PRIMARY KEY)`)
	pg.Exec(t, `INSERT INTO accounts VALUES (1, 'ann', 10.50), (2, 'bob', 20)`)

	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "public.accounts", "topic.prefix": "pg", "status.interval": "100ms",
	})
	h.open()
	h.pollUntil(2)
	wantSummaries(t, h.log,
		`pg.public.accounts {"id":1} r map[balance:10.50 id:1 owner:ann]`,
		`pg.public.accounts {"id":2} r map[balance:20.00 id:2 owner:bob]`)
	ev, _ := decodeEvent(t, h.log[0])
	if !ev.Source.Snapshot || ev.Source.Table != "accounts" {
		t.Fatalf("snapshot event source = %+v", ev.Source)
	}
	if h.log[0].Schema == nil || h.log[0].Schema.Field(1).Name != "after" {
		t.Fatalf("snapshot record schema = %v", h.log[0].Schema)
	}

	pg.Exec(t, `INSERT INTO accounts VALUES (3, 'cat', 30)`)
	pg.Exec(t, `INSERT INTO ignored VALUES (1)`)
	pg.Exec(t, `UPDATE accounts SET balance = balance + 1 WHERE id = 1`)
	pg.Exec(t, `DELETE FROM accounts WHERE id = 2`)
	h.pollUntil(6)
	wantSummaries(t, h.log[2:],
		`pg.public.accounts {"id":3} c map[balance:30.00 id:3 owner:cat]`,
		`pg.public.accounts {"id":1} u map[balance:11.50 id:1 owner:ann]`,
		`pg.public.accounts {"id":2} d map[id:2]`,
		`pg.public.accounts {"id":2} tombstone`)

	// Restart: changes made while the connector is down arrive once, none
	// of the old ones again.
	h.close()
	pg.Exec(t, `BEGIN; INSERT INTO accounts VALUES (4, 'dan', 40); UPDATE accounts SET owner = 'ANN' WHERE id = 1; COMMIT`)
	h.open()
	h.pollUntil(8)
	wantSummaries(t, h.log[6:],
		`pg.public.accounts {"id":4} c map[balance:40.00 id:4 owner:dan]`,
		`pg.public.accounts {"id":1} u map[balance:11.50 id:1 owner:ANN]`)
	for i := 0; i < 3; i++ {
		if extra := h.poll(true); len(extra) > 0 {
			t.Fatalf("after restart, unexpected records: %v", summaries(t, extra))
		}
	}

	// The slot has confirmed what was committed.
	var confirmed string
	if err := pg.Connect(t).QueryRow(context.Background(),
		`SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = 'sluice_src_test'`).Scan(&confirmed); err != nil {
		t.Fatal(err)
	}
	var pos cdcPos
	if _, err := h.positions.Decode("slot:sluice_src_test", &pos); err != nil {
		t.Fatal(err)
	}
	if mustLSN(t, confirmed) < mustLSN(t, pos.LSN) {
		t.Fatalf("slot confirmed %s, behind the committed position %s", confirmed, pos.LSN)
	}
}

func mustLSN(t *testing.T, s string) uint64 {
	t.Helper()
	l, err := parseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(l)
}

// TestCDCUncommittedRecordsComeAgain: records the worker never confirmed
// (it crashed before they were in the log) are delivered again after a
// restart; a transaction delivered in part resumes after its delivered part.
func TestCDCUncommittedRecordsComeAgain(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE t (id int PRIMARY KEY, v text)`)
	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "t", "topic.prefix": "pg", "value.format": "row", "max.batch.size": "3",
	})
	h.open()
	pg.Exec(t, `INSERT INTO t VALUES (1, 'a')`)
	h.pollUntil(1)

	// A transaction of 7 changes, larger than a batch: the first slice is
	// committed, the second delivered but not committed, then a crash.
	pg.Exec(t, `BEGIN; INSERT INTO t SELECT g, 'x' || g FROM generate_series(2, 8) g; COMMIT`)
	first := h.poll(true)
	for len(first) == 0 {
		first = h.poll(true)
	}
	if len(first) != 3 {
		t.Fatalf("first slice has %d records, want 3", len(first))
	}
	second := h.poll(false)
	if len(second) != 3 {
		t.Fatalf("second slice has %d records, want 3", len(second))
	}
	h.close()
	h.log = h.log[:len(h.log)-len(second)] // the crash lost them

	h.open()
	h.pollUntil(8)
	var keys []string
	for _, r := range h.log {
		keys = append(keys, string(r.Key))
	}
	if got := strings.Join(keys, " "); got != `{"id":1} {"id":2} {"id":3} {"id":4} {"id":5} {"id":6} {"id":7} {"id":8}` {
		t.Fatalf("keys after the crash: %s", got)
	}
	if h.log[7].Schema == nil || !schema.IsJSON(h.log[7].Schema.Field(0).Type) && h.log[7].Schema.Field(0).Name != "id" {
		t.Fatalf("row schema = %v", h.log[7].Schema)
	}
}

// TestCDCQuietTableDoesNotHoldWAL: with nothing to capture, status updates
// still move the slot forward past other tables' writes.
func TestCDCQuietTableDoesNotHoldWAL(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE quiet (id int PRIMARY KEY)`)
	pg.Exec(t, `CREATE TABLE busy (id int)`)
	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "quiet", "topic.prefix": "pg", "status.interval": "50ms", "snapshot.mode": "never",
	})
	h.open()
	h.poll(true)
	conn := pg.Connect(t)
	ctx := context.Background()
	var before, walNow string
	conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots`).Scan(&before)
	pg.Exec(t, `INSERT INTO busy SELECT generate_series(1, 1000)`)
	conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&walNow)
	deadline := time.Now().Add(time.Minute)
	for {
		if recs := h.poll(true); len(recs) > 0 {
			t.Fatalf("records from an unpublished table: %v", summaries(t, recs))
		}
		var confirmed string
		conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots`).Scan(&confirmed)
		if mustLSN(t, confirmed) >= mustLSN(t, walNow) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot stuck at %s (was %s), WAL is at %s", confirmed, before, walNow)
		}
	}
}

// TestCDCHeartbeatActionQuery runs the configured write periodically.
func TestCDCHeartbeatActionQuery(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE hb (id int PRIMARY KEY, n int)`)
	pg.Exec(t, `INSERT INTO hb VALUES (1, 0)`)
	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "hb", "topic.prefix": "pg", "snapshot.mode": "never",
		"heartbeat.interval": "10ms", "heartbeat.action.query": "UPDATE hb SET n = n + 1 WHERE id = 1",
	})
	h.open()
	h.pollUntil(2) // the heartbeat's own updates are captured too
	for _, r := range h.log[:2] {
		if ev, _ := decodeEvent(t, r); ev.Op != "u" {
			t.Fatalf("heartbeat change op = %q", ev.Op)
		}
	}
}

func TestCDCRefusesMissingSlotWhenNotAllowed(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	c, _ := CDCSourceSpec.Parse(map[string]string{"connection.url": pg.DSN(), "slot.create": "false", "publication.tables": "t"})
	src := NewCDCSource()
	defer src.Close(context.Background())
	err := src.Open(context.Background(), testTask("x"), c, nil)
	if err == nil || connectors.IsRetriable(err) || !strings.Contains(err.Error(), ErrSlotMissing.Error()) {
		t.Fatalf("Open = %v, want a permanent ErrSlotMissing", err)
	}
}

// TestCDCSurvivesDatabaseRestart: the database is stopped (and then killed)
// while the source streams; it reconnects on its own and resumes where the
// log left off: nothing lost, nothing twice.
func TestCDCSurvivesDatabaseRestart(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE t (id int PRIMARY KEY)`)
	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "t", "topic.prefix": "pg", "value.format": "row", "snapshot.mode": "never",
	})
	h.open()
	h.poll(true)
	pg.Exec(t, `INSERT INTO t SELECT generate_series(1, 50)`)
	h.pollUntil(50)
	pg.Stop()
	for i := 0; i < 3; i++ {
		h.poll(true) // retriable failures while the database is down
	}
	pg.Start()
	pg.Exec(t, `INSERT INTO t SELECT generate_series(51, 100)`)
	h.pollUntil(100)
	pg.Kill()
	pg.Start()
	pg.Exec(t, `INSERT INTO t SELECT generate_series(101, 120)`)
	h.pollUntil(120)
	for i := 0; i < 3; i++ {
		h.poll(true)
	}
	seen := map[string]int{}
	for _, r := range h.log {
		seen[string(r.Key)]++
	}
	if len(seen) != 120 || len(h.log) != 120 {
		t.Fatalf("%d records, %d distinct keys; want 120 of each", len(h.log), len(seen))
	}
}

// TestCDCKeyChange: an update that moves a row to another key is a delete of
// the old key (with its tombstone) and a create of the new one, with the
// default replica identity and with FULL (where before holds the old row).
func TestCDCKeyChange(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE k (id int PRIMARY KEY, v text)`)
	pg.Exec(t, `CREATE TABLE f (id int PRIMARY KEY, v text)`)
	pg.Exec(t, `ALTER TABLE f REPLICA IDENTITY FULL`)
	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "k,f", "topic.prefix": "pg", "snapshot.mode": "never",
	})
	h.open()
	h.poll(true)
	pg.Exec(t, `INSERT INTO k VALUES (1, 'a'); INSERT INTO f VALUES (1, 'a')`)
	pg.Exec(t, `UPDATE k SET id = 2; UPDATE f SET id = 2; UPDATE f SET v = 'b'`)
	h.pollUntil(9)
	wantSummaries(t, h.log,
		`pg.public.k {"id":1} c map[id:1 v:a]`,
		`pg.public.f {"id":1} c map[id:1 v:a]`,
		`pg.public.k {"id":1} d map[id:1]`,
		`pg.public.k {"id":1} tombstone`,
		`pg.public.k {"id":2} c map[id:2 v:a]`,
		`pg.public.f {"id":1} d map[id:1 v:a]`,
		`pg.public.f {"id":1} tombstone`,
		`pg.public.f {"id":2} c map[id:2 v:a]`,
		`pg.public.f {"id":2} u map[id:2 v:b]`)
	if ev, _ := decodeEvent(t, h.log[8]); fmt.Sprint(ev.Before) != "map[id:2 v:a]" {
		t.Fatalf("FULL identity update before = %v", ev.Before)
	}
}
