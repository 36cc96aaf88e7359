package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

// snapshotReader reads every row of the published tables in one REPEATABLE
// READ transaction, through a cursor, a batch per Poll. With the snapshot
// the slot exported at creation, the rows are exactly the state the stream
// continues from.
type snapshotReader struct {
	tx     pgx.Tx
	tables [][2]string
	ti     int
	rel    *relation
	open   bool
	cp     pglogrepl.LSN
	next   []connectors.Record // read ahead, to know which record is last
	primed bool
	at     time.Time
}

var snapshotNameRE = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// startSnapshot begins the snapshot transaction. name is the slot's exported
// snapshot ("" for a fresh, unsynchronised one); it must be imported before
// the replication connection runs another command.
func (s *CDCSource) startSnapshot(ctx context.Context, name string, cp pglogrepl.LSN) error {
	tables, err := s.publicationTables(ctx)
	if err != nil {
		return err
	}
	tx, err := s.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres cdc: snapshot: begin: %w", err)
	}
	if name != "" {
		if !snapshotNameRE.MatchString(name) {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("postgres cdc: snapshot: unexpected snapshot name %q", name)
		}
		if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+name+"'"); err != nil {
			_ = tx.Rollback(ctx)
			return fmt.Errorf("postgres cdc: snapshot: import %s: %w", name, err)
		}
	}
	s.snap = &snapshotReader{tx: tx, tables: tables, cp: cp, at: time.Now()}
	s.log.Info("postgres cdc: reading snapshot", "tables", len(tables), "exported", name != "")
	return nil
}

func (s *CDCSource) publicationTables(ctx context.Context) ([][2]string, error) {
	rows, err := s.conn.Query(ctx, `SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2`, s.cfg.pub)
	if err != nil {
		return nil, fmt.Errorf("postgres cdc: publication tables: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var t [2]string
		if err := rows.Scan(&t[0], &t[1]); err != nil {
			return nil, fmt.Errorf("postgres cdc: publication tables: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// abandonSnapshot drops a snapshot that broke off; it is read again.
func (s *CDCSource) abandonSnapshot() {
	if s.snap == nil {
		return
	}
	if s.conn != nil && !s.conn.IsClosed() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = s.snap.tx.Rollback(ctx)
		cancel()
	}
	s.snap = nil
	s.redoSnap = true
}

// pollSnapshot returns the next batch of snapshot rows. The last row of the
// snapshot carries a position without the "running" mark, so a restart after
// it streams instead of reading the snapshot again.
func (s *CDCSource) pollSnapshot(ctx context.Context) ([]connectors.Record, error) {
	r := s.snap
	if !r.primed {
		first, err := s.fetchSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		r.next, r.primed = first, true
	}
	cur := r.next
	next, err := s.fetchSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	r.next = next
	if len(next) > 0 {
		return cur, nil
	}
	// Done: commit the read-only transaction and stream from the slot.
	if err := r.tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("postgres cdc: snapshot: commit: %w", err)
	}
	s.snap = nil
	if n := len(cur); n > 0 {
		pos, err := connectors.NewPosition(s.cfg.partition, cdcPos{LSN: r.cp.String()})
		if err != nil {
			return nil, err
		}
		cur[n-1].Position = pos
	}
	s.log.Info("postgres cdc: snapshot done", "took", time.Since(r.at).Round(time.Millisecond))
	return cur, nil
}

// fetchSnapshot reads up to a batch of rows, moving to the next table when
// one is exhausted; nil means the snapshot is complete.
func (s *CDCSource) fetchSnapshot(ctx context.Context) ([]connectors.Record, error) {
	r := s.snap
	for {
		if !r.open {
			if r.ti >= len(r.tables) {
				return nil, nil
			}
			sch, name := r.tables[r.ti][0], r.tables[r.ti][1]
			specs, err := tableColumns(ctx, r.tx, sch, name)
			if err != nil {
				return nil, err
			}
			rel, err := newRelation(ctx, s.conn, s.types, 0, sch, name, specs)
			if err != nil {
				return nil, err
			}
			rel.topic = s.cfg.topics.topic(sch, name)
			r.rel = rel
			if _, err := r.tx.Exec(ctx, "DECLARE sluice_snapshot NO SCROLL CURSOR FOR SELECT * FROM "+quoteIdent(sch, name)); err != nil {
				return nil, fmt.Errorf("postgres cdc: snapshot of %s: %w", quoteIdent(sch, name), err)
			}
			r.open = true
		}
		// The simple protocol returns text, the form the stream has too.
		res, err := r.tx.Conn().PgConn().Exec(ctx, "FETCH "+strconv.Itoa(s.cfg.maxBatch)+" FROM sluice_snapshot").ReadAll()
		if err != nil {
			return nil, fmt.Errorf("postgres cdc: snapshot of %s.%s: %w", r.rel.schema, r.rel.name, err)
		}
		var rows [][][]byte
		if len(res) > 0 {
			rows = res[0].Rows
		}
		if len(rows) == 0 {
			if _, err := r.tx.Exec(ctx, "CLOSE sluice_snapshot"); err != nil {
				return nil, fmt.Errorf("postgres cdc: snapshot: %w", err)
			}
			r.open = false
			r.ti++
			continue
		}
		out := make([]connectors.Record, 0, len(rows))
		for _, vals := range rows {
			rec, err := s.snapshotRecord(r, vals)
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		return out, nil
	}
}

func (s *CDCSource) snapshotRecord(r *snapshotReader, vals [][]byte) (connectors.Record, error) {
	rel := r.rel
	key, err := rel.keyJSON(vals)
	if err != nil {
		return connectors.Record{}, err
	}
	row, err := rel.appendRowJSON(nil, vals, nil, false)
	if err != nil {
		return connectors.Record{}, err
	}
	pos, err := connectors.NewPosition(s.cfg.partition, cdcPos{LSN: r.cp.String(), Snapshot: "running"})
	if err != nil {
		return connectors.Record{}, err
	}
	rec := connectors.Record{Topic: rel.topic, Key: key, Timestamp: r.at, Position: pos}
	if s.cfg.format == ValueFormatRow {
		rec.Value, rec.Schema = row, rel.rowSchema
		return rec, nil
	}
	b := append([]byte(`{"before":null,"after":`), row...)
	b = append(b, `,"op":"r","ts_ms":`...)
	b = strconv.AppendInt(b, r.at.UnixMilli(), 10)
	b = append(b, `,"source":{"db":`...)
	b = appendJSONString(b, s.cfg.database)
	b = append(b, `,"schema":`...)
	b = appendJSONString(b, rel.schema)
	b = append(b, `,"table":`...)
	b = appendJSONString(b, rel.name)
	b = append(b, `,"lsn":`...)
	b = strconv.AppendUint(b, uint64(r.cp), 10)
	b = append(b, `,"txid":null,"snapshot":true}}`...)
	rec.Value, rec.Schema = b, rel.envSchema
	return rec, nil
}
