package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/pgtest"
)

// sourceHarness plays the worker for a source: it polls, "produces" records
// into an in-memory log, stores the latest position per source partition
// and commits it, and reopens the source from the stored positions.
type sourceHarness struct {
	t         *testing.T
	pg        *pgtest.PG
	spec      connectors.ConfigSpec
	newSource func() connectors.Source
	cfg       map[string]string
	src       connectors.Source
	positions connectors.Positions
	log       []connectors.Record
}

func newSourceHarness(t *testing.T, pg *pgtest.PG, spec connectors.ConfigSpec, newSource func() connectors.Source, cfg map[string]string) *sourceHarness {
	h := &sourceHarness{t: t, pg: pg, spec: spec, newSource: newSource, cfg: cfg, positions: connectors.Positions{}}
	t.Cleanup(h.close)
	return h
}

func (h *sourceHarness) open() {
	h.t.Helper()
	raw := map[string]string{"connection.url": h.pg.DSN()}
	for k, v := range h.cfg {
		raw[k] = v
	}
	c, err := h.spec.Parse(raw)
	if err != nil {
		h.t.Fatalf("config: %v", err)
	}
	h.src = h.newSource()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		err = h.src.Open(ctx, testTask("src-test"), c, h.positions)
		if err == nil || !connectors.IsRetriable(err) {
			break
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("open: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
}

func (h *sourceHarness) close() {
	if h.src != nil {
		_ = h.src.Close(context.Background())
		h.src = nil
	}
}

// poll runs one Poll; with commit it stores and commits the positions, as
// the worker does once the records are in the log.
func (h *sourceHarness) poll(commit bool) []connectors.Record {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	recs, err := h.src.Poll(ctx)
	if d := time.Since(t0); d > 2*time.Second {
		h.t.Logf("slow poll: %v (%d records, err %v)", d, len(recs), err)
	}
	if err != nil {
		if connectors.IsRetriable(err) {
			return nil
		}
		h.t.Fatalf("poll: %v", err)
	}
	h.log = append(h.log, recs...)
	if !commit || len(recs) == 0 {
		return recs
	}
	latest := map[string]connectors.Position{}
	var order []string
	for _, r := range recs {
		if r.Position.IsZero() {
			continue
		}
		if _, ok := latest[r.Position.Partition]; !ok {
			order = append(order, r.Position.Partition)
		}
		latest[r.Position.Partition] = r.Position
	}
	var ps []connectors.Position
	for _, p := range order {
		ps = append(ps, latest[p])
		h.positions[p] = latest[p].Offset
	}
	if len(ps) > 0 {
		if err := h.src.Commit(ctx, ps); err != nil {
			h.t.Fatalf("commit: %v", err)
		}
	}
	return recs
}

// pollUntil polls (committing) until the log holds at least n records.
func (h *sourceHarness) pollUntil(n int) {
	h.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for len(h.log) < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("only %d of %d records after a minute", len(h.log), n)
		}
		h.poll(true)
	}
}

// event is a decoded change envelope.
type event struct {
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
	Op     string         `json:"op"`
	TsMs   int64          `json:"ts_ms"`
	Source struct {
		Schema   string `json:"schema"`
		Table    string `json:"table"`
		LSN      int64  `json:"lsn"`
		Snapshot bool   `json:"snapshot"`
	} `json:"source"`
}

func decodeEvent(t *testing.T, r connectors.Record) (ev event, tombstone bool) {
	t.Helper()
	if r.Value == nil {
		return ev, true
	}
	d := json.NewDecoder(bytes.NewReader(r.Value))
	d.UseNumber()
	if err := d.Decode(&ev); err != nil {
		t.Fatalf("record value %s: %v", r.Value, err)
	}
	return ev, false
}
