package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/connectors"
)

// pollStream reads the replication stream until it has a batch, or the
// stream has been quiet for a moment. Records of a transaction are released
// when its commit arrives (or in slices, for transactions larger than a
// batch), so positions mark transaction boundaries.
func (s *CDCSource) pollStream(ctx context.Context) ([]connectors.Record, error) {
	var out []connectors.Record
	start := time.Now()
	for len(out) < s.cfg.maxBatch {
		now := time.Now()
		if !now.Before(s.nextStatus) {
			if err := s.sendStatus(ctx); err != nil {
				return out, err
			}
		}
		wait := s.cfg.idleWait - now.Sub(start)
		if len(out) > 0 {
			wait = s.cfg.batchLinger
		}
		if wait <= 0 {
			return out, nil
		}
		deadline := now.Add(wait)
		if s.nextStatus.Before(deadline) {
			deadline = s.nextStatus
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := s.repl.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return out, nil
			}
			if pgconn.Timeout(err) {
				if len(out) > 0 {
					return out, nil // the stream paused: deliver what we have
				}
				continue
			}
			return out, fmt.Errorf("postgres cdc: receive: %w", err)
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := s.handleCopyData(ctx, m.Data, &out); err != nil {
				return out, err
			}
		case *pgproto3.ErrorResponse:
			return out, fmt.Errorf("postgres cdc: replication stream: %w", pgconn.ErrorResponseToPgError(m))
		case *pgproto3.CopyDone:
			s.streaming = false
			return out, fmt.Errorf("postgres cdc: server ended the replication stream")
		}
	}
	return out, nil
}

func (s *CDCSource) handleCopyData(ctx context.Context, data []byte, out *[]connectors.Record) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("postgres cdc: keepalive: %w", err)
		}
		if !s.inTx && ka.ServerWALEnd > s.idleWALEnd {
			s.idleWALEnd = ka.ServerWALEnd
		}
		if ka.ReplyRequested {
			s.nextStatus = time.Time{}
		}
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("postgres cdc: xlog data: %w", err)
		}
		msg, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("postgres cdc: pgoutput message at %s: %w", xld.WALStart, err)
		}
		return s.handleMessage(ctx, xld.WALStart, msg, out)
	}
	return nil
}

func (s *CDCSource) handleMessage(ctx context.Context, lsn pglogrepl.LSN, msg pglogrepl.Message, out *[]connectors.Record) error {
	switch m := msg.(type) {
	case *pglogrepl.RelationMessage:
		// The key is the primary key. The message flags the replica
		// identity, which is every column under REPLICA IDENTITY FULL, so
		// it only stands in for a table without a primary key that has an
		// identity index.
		pk, err := s.primaryKey(ctx, m.RelationID)
		if err != nil {
			return fmt.Errorf("postgres cdc: relation %s.%s: %w", m.Namespace, m.RelationName, err)
		}
		specs := make([]colSpec, len(m.Columns))
		for i, c := range m.Columns {
			key := pk[c.Name]
			if len(pk) == 0 && m.ReplicaIdentity == 'i' {
				key = c.Flags&1 != 0
			}
			specs[i] = colSpec{name: c.Name, oid: c.DataType, typmod: c.TypeModifier, key: key}
		}
		rel, err := newRelation(ctx, s.conn, s.types, m.RelationID, m.Namespace, m.RelationName, specs)
		if err != nil {
			return fmt.Errorf("postgres cdc: relation %s.%s: %w", m.Namespace, m.RelationName, err)
		}
		rel.topic = s.cfg.topics.topic(m.Namespace, m.RelationName)
		s.rels[m.RelationID] = rel
	case *pglogrepl.BeginMessage:
		s.inTx = true
		s.tx = txState{final: m.FinalLSN, xid: m.Xid, commitTime: m.CommitTime}
		switch {
		case s.resumeTx != 0 && m.FinalLSN == s.resumeTx:
			s.tx.skip = s.resumeSeen // delivered before a restart
		case m.FinalLSN < s.complete:
			s.tx.skip = math.MaxInt // delivered whole already
		}
		s.resumeTx = 0
	case *pglogrepl.CommitMessage:
		s.inTx = false
		s.complete = m.TransactionEndLSN
		if n := len(s.pending); n > 0 {
			pos, err := connectors.NewPosition(s.cfg.partition, cdcPos{LSN: s.complete.String()})
			if err != nil {
				return err
			}
			s.pending[n-1].Position = pos
			*out = append(*out, s.pending...)
			s.pending = nil
		}
	case *pglogrepl.InsertMessage:
		return s.change(lsn, m.RelationID, "c", 0, nil, m.Tuple, out)
	case *pglogrepl.UpdateMessage:
		if m.OldTupleType == pglogrepl.UpdateMessageTupleTypeKey || s.keyChanged(m) {
			// The key changed: as Debezium, a delete of the old key (and
			// its tombstone) and a create of the new one.
			if err := s.change(lsn, m.RelationID, "d", m.OldTupleType, m.OldTuple, nil, out); err != nil {
				return err
			}
			s.tx.seen-- // one change, two events
			return s.change(lsn, m.RelationID, "c", 0, nil, m.NewTuple, out)
		}
		return s.change(lsn, m.RelationID, "u", m.OldTupleType, m.OldTuple, m.NewTuple, out)
	case *pglogrepl.DeleteMessage:
		return s.change(lsn, m.RelationID, "d", m.OldTupleType, m.OldTuple, nil, out)
	case *pglogrepl.TruncateMessage:
		s.tx.seen++
		if s.tx.seen <= s.tx.skip {
			return nil
		}
		for _, id := range m.RelationIDs {
			rel := s.rels[id]
			if rel == nil {
				continue
			}
			if s.cfg.format == ValueFormatRow {
				s.log.Warn("postgres cdc: TRUNCATE cannot be expressed in row format; skipped", "table", rel.schema+"."+rel.name)
				continue
			}
			val := s.envelope(rel, "t", lsn, nil, nil)
			if err := s.emit(rel, nil, val, rel.envSchema); err != nil {
				return err
			}
		}
		return s.flushLarge(out)
	}
	return nil
}

// tupleValues splits a tuple into text values (nil for NULL) and the
// columns whose value was not sent (unchanged TOAST).
func tupleValues(t *pglogrepl.TupleData) (vals [][]byte, omit []bool) {
	if t == nil {
		return nil, nil
	}
	vals = make([][]byte, len(t.Columns))
	for i, c := range t.Columns {
		switch c.DataType {
		case pglogrepl.TupleDataTypeText, pglogrepl.TupleDataTypeBinary:
			vals[i] = c.Data
			if vals[i] == nil {
				vals[i] = []byte{}
			}
		case pglogrepl.TupleDataTypeToast:
			if omit == nil {
				omit = make([]bool, len(t.Columns))
			}
			omit[i] = true
		}
	}
	return vals, omit
}

// change turns one insert, update or delete into records. old is the old
// key (oldType 'K': key columns only) or the whole old row (oldType 'O',
// REPLICA IDENTITY FULL), when the server sent one.
func (s *CDCSource) change(lsn pglogrepl.LSN, relID uint32, op string, oldType uint8, old, newTuple *pglogrepl.TupleData, out *[]connectors.Record) error {
	s.tx.seen++
	if s.tx.seen <= s.tx.skip {
		return nil
	}
	rel := s.rels[relID]
	if rel == nil {
		return fmt.Errorf("postgres cdc: change for relation %d before its description", relID)
	}
	newVals, newOmit := tupleValues(newTuple)
	oldVals, oldOmit := tupleValues(old)
	fullOld := old != nil && oldType == pglogrepl.UpdateMessageTupleTypeOld
	if newOmit != nil && fullOld {
		// Unchanged TOAST values: take them from the old row.
		for i, o := range newOmit {
			if o && i < len(oldVals) && (oldOmit == nil || !oldOmit[i]) {
				newVals[i], newOmit[i] = oldVals[i], false
			}
		}
	}
	keySrc := newVals
	if op == "d" {
		keySrc = oldVals
	}
	key, err := rel.keyJSON(keySrc)
	if err != nil {
		return err
	}
	var before, after []byte
	if old != nil {
		if before, err = rel.appendRowJSON(nil, oldVals, oldOmit, !fullOld); err != nil {
			return err
		}
	}
	if newTuple != nil {
		if after, err = rel.appendRowJSON(nil, newVals, newOmit, false); err != nil {
			return err
		}
	}
	switch s.cfg.format {
	case ValueFormatRow:
		if op == "d" {
			if err := s.emit(rel, key, nil, nil); err != nil {
				return err
			}
		} else if err := s.emit(rel, key, after, rel.rowSchema); err != nil {
			return err
		}
	default:
		if err := s.emit(rel, key, s.envelope(rel, op, lsn, before, after), rel.envSchema); err != nil {
			return err
		}
		if op == "d" && s.cfg.tombstones && key != nil {
			if err := s.emit(rel, key, nil, nil); err != nil {
				return err
			}
		}
	}
	return s.flushLarge(out)
}

// emit queues a record of the current transaction with a position that
// says how far into the transaction it is.
func (s *CDCSource) emit(rel *relation, key, value []byte, sc *arrow.Schema) error {
	pos, err := connectors.NewPosition(s.cfg.partition, cdcPos{LSN: s.complete.String(), TxLSN: s.tx.final.String(), TxSeen: s.tx.seen})
	if err != nil {
		return err
	}
	// A delete's event and its tombstone are one change: only the last
	// record of the change may claim it is delivered.
	if n := len(s.pending); n > 0 && samePosition(s.pending[n-1].Position, pos) {
		prev, _ := connectors.NewPosition(s.cfg.partition, cdcPos{LSN: s.complete.String(), TxLSN: s.tx.final.String(), TxSeen: s.tx.seen - 1})
		s.pending[n-1].Position = prev
	}
	s.pending = append(s.pending, connectors.Record{
		Topic:     rel.topic,
		Key:       key,
		Value:     value,
		Timestamp: s.tx.commitTime,
		Schema:    sc,
		Position:  pos,
	})
	return nil
}

func samePosition(a, b connectors.Position) bool {
	return a.Partition == b.Partition && string(a.Offset) == string(b.Offset)
}

// flushLarge releases the records of a transaction larger than a batch
// before its commit arrives.
func (s *CDCSource) flushLarge(out *[]connectors.Record) error {
	if len(s.pending) >= s.cfg.maxBatch {
		*out = append(*out, s.pending...)
		s.pending = nil
	}
	return nil
}

// envelope builds a Debezium-style change event.
func (s *CDCSource) envelope(rel *relation, op string, lsn pglogrepl.LSN, before, after []byte) []byte {
	b := s.buf[:0]
	b = append(b, `{"before":`...)
	b = appendRaw(b, before)
	b = append(b, `,"after":`...)
	b = appendRaw(b, after)
	b = append(b, `,"op":"`...)
	b = append(b, op...)
	b = append(b, `","ts_ms":`...)
	b = strconv.AppendInt(b, s.tx.commitTime.UnixMilli(), 10)
	b = append(b, `,"source":{"db":`...)
	b = appendJSONString(b, s.cfg.database)
	b = append(b, `,"schema":`...)
	b = appendJSONString(b, rel.schema)
	b = append(b, `,"table":`...)
	b = appendJSONString(b, rel.name)
	b = append(b, `,"lsn":`...)
	b = strconv.AppendUint(b, uint64(lsn), 10)
	b = append(b, `,"txid":`...)
	b = strconv.AppendUint(b, uint64(s.tx.xid), 10)
	b = append(b, `,"snapshot":false}}`...)
	s.buf = b
	return append([]byte(nil), b...)
}

func appendRaw(b, raw []byte) []byte {
	if raw == nil {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// keyChanged reports whether an update with the whole old row (REPLICA
// IDENTITY FULL) moved the row to another key.
func (s *CDCSource) keyChanged(m *pglogrepl.UpdateMessage) bool {
	rel := s.rels[m.RelationID]
	if rel == nil || m.OldTupleType != pglogrepl.UpdateMessageTupleTypeOld || m.OldTuple == nil || m.NewTuple == nil {
		return false
	}
	oldVals, _ := tupleValues(m.OldTuple)
	newVals, _ := tupleValues(m.NewTuple)
	for _, i := range rel.keyIdx {
		if i < len(oldVals) && i < len(newVals) && string(oldVals[i]) != string(newVals[i]) {
			return true
		}
	}
	return false
}

// primaryKey returns the primary key columns of a table by OID.
func (s *CDCSource) primaryKey(ctx context.Context, relid uint32) (map[string]bool, error) {
	rows, err := s.conn.Query(ctx, `SELECT a.attname::text FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1 AND i.indisprimary`, relid)
	if err != nil {
		return nil, fmt.Errorf("primary key: %w", err)
	}
	defer rows.Close()
	pk := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("primary key: %w", err)
		}
		pk[name] = true
	}
	return pk, rows.Err()
}
