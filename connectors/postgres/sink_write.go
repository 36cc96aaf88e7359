package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connectors"
)

const (
	closeTimeout = 5 * time.Second
	// maxStages bounds the temporary staging tables kept per connection.
	maxStages = 64
	// copyChunk is how much COPY data is encoded ahead of the network.
	copyChunk = 64 << 10
)

// Write applies a batch in one transaction. Records that cannot be written
// (bad JSON, a value the column type rejects, a violated constraint) are
// refused with *connectors.RecordErrors and the rest are committed. Failures
// of the database or the network return a Retriable error and leave nothing
// half-written; the worker calls Write again with the same batch.
func (s *Sink) Write(ctx context.Context, batch []connectors.Record) error {
	if len(batch) == 0 {
		return nil
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	refused := refusals{}
	if s.streamable(batch) {
		err := s.writeStreaming(ctx, batch, refused)
		switch {
		case err == nil:
			if len(refused) > 0 {
				sinkRefused.WithLabelValues(s.task.Connector).Add(float64(len(refused)))
			}
			return refused.err()
		case errors.Is(err, errFallback):
			// Redo it the ordinary way, keeping the refusals made.
		case errors.Is(err, errStale) || isStaleError(err):
			s.tables = map[string]*table{}
		default:
			return s.classify(fmt.Errorf("postgres sink: %w", err))
		}
	}
	groups := s.prepare(batch, refused)
	for attempt := 0; ; attempt++ {
		err := s.writeBatch(ctx, batch, groups, refused)
		if err == nil {
			if len(refused) > 0 {
				sinkRefused.WithLabelValues(s.task.Connector).Add(float64(len(refused)))
			}
			return refused.err()
		}
		if errors.Is(err, errStale) && attempt < 3 {
			s.log.Info("postgres sink: table changed, reloading", "err", err)
			s.tables = map[string]*table{}
			continue
		}
		return s.classify(fmt.Errorf("postgres sink: %w", err))
	}
}

func (s *Sink) writeBatch(ctx context.Context, batch []connectors.Record, groups []*group, refused refusals) error {
	if s.cfg.exactlyOnce {
		if err := s.ensureOffsetsTable(ctx); err != nil {
			return err
		}
	}
	for _, g := range groups {
		if err := s.plan(ctx, g, refused); err != nil {
			return err
		}
		if g.t != nil && (s.cfg.upsert || g.unique) && len(g.rows) > 0 {
			if err := s.ensureStage(ctx, g); err != nil {
				return err
			}
		}
	}
	perRecord := false
	for {
		culprit, err := s.tx(ctx, batch, groups, refused, perRecord)
		if err == nil {
			return nil
		}
		switch {
		case culprit != nil:
			refused.add(culprit.idx, fmt.Errorf("%s: %s", culprit.where, describePgError(err)))
			continue
		case isDataError(err) && !perRecord:
			// A row broke a constraint somewhere COPY cannot point at; redo
			// the batch row by row to find out which.
			s.log.Debug("postgres sink: data error without a row; retrying row by row", "err", err)
			perRecord = true
			continue
		case isStaleError(err):
			return fmt.Errorf("%w: %v", errStale, err)
		}
		return err
	}
}

// execer is a transaction or the connection itself (autocommit).
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	PgConn() *pgconn.PgConn
}

// txExecer gives a pgx.Tx the PgConn method.
type txExecer struct{ pgx.Tx }

func (t txExecer) PgConn() *pgconn.PgConn { return t.Conn().PgConn() }

// culprit names the record a failed statement points at.
type culprit struct {
	idx   int
	where string
}

// tx runs one attempt of the batch's transaction.
func (s *Sink) tx(ctx context.Context, batch []connectors.Record, groups []*group, refused refusals, perRecord bool) (*culprit, error) {
	if !s.cfg.exactlyOnce && !perRecord && len(groups) == 1 && groups[0].t != nil && groups[0].stage == "" {
		// One plain COPY is atomic by itself: no BEGIN and COMMIT round
		// trips for the most common batch.
		g := groups[0]
		skipRefused := func(r *row) bool { _, bad := refused[r.idx]; return bad }
		deletes, writes, err := s.ops(g, skipRefused, refused)
		if err != nil {
			return nil, err
		}
		if len(deletes) == 0 {
			if len(writes) == 0 {
				return nil, nil
			}
			c, err := s.writeRows(ctx, s.conn, g, writes, refused)
			if err == nil {
				sinkRows.WithLabelValues(s.task.Connector, g.name, "insert").Add(float64(len(writes)))
			}
			return c, err
		}
	}
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if tx != nil {
			rctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()

	next := nextOffsets(batch)
	var stored connectors.Offsets
	if s.cfg.exactlyOnce {
		tps := make([]connectors.TopicPartition, 0, len(next))
		for tp := range next {
			tps = append(tps, tp)
		}
		if stored, err = s.lockOffsets(ctx, tx, tps); err != nil {
			return nil, err
		}
		for tp, o := range stored {
			if next[tp] <= o {
				delete(next, tp) // the whole batch for tp is already in
			}
		}
	}
	skip := func(r *row) bool {
		if _, bad := refused[r.idx]; bad {
			return true
		}
		if stored == nil {
			return false
		}
		o, ok := stored[connectors.TopicPartition{Topic: r.rec.Topic, Partition: r.rec.Partition}]
		return ok && r.rec.Offset < o
	}

	var counts []opCount
	for _, g := range groups {
		if g.t == nil {
			continue
		}
		deletes, writes, err := s.ops(g, skip, refused)
		if err != nil {
			return nil, err
		}
		counts = append(counts, opCount{g.name, "delete", len(deletes)}, opCount{g.name, s.modeVerb(), len(writes)})
		if perRecord {
			if err := s.applyEach(ctx, tx, g, deletes, writes, refused); err != nil {
				return nil, err
			}
			continue
		}
		if len(deletes) > 0 {
			if err := s.deleteRows(ctx, tx, g, deletes); err != nil {
				return nil, err
			}
		}
		if len(writes) > 0 {
			if c, err := s.writeRows(ctx, txExecer{tx}, g, writes, refused); err != nil {
				return c, err
			}
		}
	}
	if s.cfg.exactlyOnce {
		if err := s.storeOffsets(ctx, tx, next); err != nil {
			return nil, err
		}
	}
	err = tx.Commit(ctx)
	tx = nil
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for _, c := range counts {
		sinkRows.WithLabelValues(s.task.Connector, c.table, c.op).Add(float64(c.n))
	}
	return nil, nil
}

// opCount is what a transaction did to one table, counted once it commits.
type opCount struct {
	table, op string
	n         int
}

// nextOffsets is the offset after the last record of each partition.
func nextOffsets(batch []connectors.Record) connectors.Offsets {
	next := connectors.Offsets{}
	for i := range batch {
		tp := connectors.TopicPartition{Topic: batch[i].Topic, Partition: batch[i].Partition}
		if o := batch[i].Offset + 1; o > next[tp] {
			next[tp] = o
		}
	}
	return next
}

// ops turns a group's rows into deletes and writes. With a key, only the
// last record per key counts (an upsert cannot touch one row twice in a
// statement), and a key deleted anywhere in the batch is deleted before its
// last write, so the table ends as if every record had been applied in
// order.
func (s *Sink) ops(g *group, skip func(*row) bool, refused refusals) (deletes, writes []*row, err error) {
	keyed := g.keyFrom != PKModeNone && (s.cfg.upsert || s.cfg.deletes)
	if !keyed {
		for _, r := range g.rows {
			if !skip(r) && r.val != nil {
				writes = append(writes, r)
			}
		}
		return nil, writes, nil
	}
	type state struct {
		last    *row
		deleted *row // a tombstone for the key, if any
	}
	byKey := map[string]*state{}
	var order []string
	for _, r := range g.rows {
		if skip(r) {
			continue
		}
		k, err := s.keyText(g, r)
		if err != nil {
			refused.add(r.idx, err)
			continue
		}
		st := byKey[k]
		if st == nil {
			st = &state{}
			byKey[k] = st
			order = append(order, k)
		}
		st.last = r
		if r.val == nil {
			st.deleted = r
		}
	}
	for _, k := range order {
		st := byKey[k]
		if st.deleted != nil {
			if st.last.val == nil {
				deletes = append(deletes, st.last)
			} else {
				deletes = append(deletes, st.deleted)
			}
		}
		if st.last.val != nil {
			writes = append(writes, st.last)
		}
	}
	return deletes, writes, nil
}

// keyText is a row's key as one string, to find records of the same key.
func (s *Sink) keyText(g *group, r *row) (string, error) {
	var b strings.Builder
	for i := range g.keyCols {
		c := g.cols[i]
		t, ok, err := g.t.cols[c.col].enc.text(s.cellValue(r, &g.cols[i]))
		if err != nil {
			return "", fmt.Errorf("%w: column %q: %v", ErrBadKey, g.t.cols[c.col].name, err)
		}
		if !ok {
			return "", fmt.Errorf("%w: key column %q is null", ErrBadKey, g.t.cols[c.col].name)
		}
		b.WriteString(strconv.Itoa(len(t)))
		b.WriteByte(':')
		b.WriteString(t)
	}
	return b.String(), nil
}

// cellValue is the JSON value of one column for a row (nil: missing).
func (s *Sink) cellValue(r *row, c *copyCol) *jvalue {
	if c.keyPos >= 0 {
		if r.key == nil {
			return nil
		}
		return r.key[c.keyPos]
	}
	if r.val == nil {
		return nil
	}
	return r.val.lookupAt(c.field, &c.hint)
}

// writeRows copies rows into the table: straight in for plain inserts,
// through the staging table for upserts and insert-if-absent.
func (s *Sink) writeRows(ctx context.Context, tx execer, g *group, rows []*row, refused refusals) (*culprit, error) {
	cols := make([]string, len(g.cols))
	for i, c := range g.cols {
		cols[i] = quoteIdent(g.t.cols[c.col].name)
	}
	colList := strings.Join(cols, ", ")
	if g.stage == "" {
		return s.copyRows(ctx, tx, g, rows, copySQL(g, g.t.ident), g.t.ident, refused)
	}
	stage := quoteIdent(g.stage)
	if c, err := s.copyRows(ctx, tx, g, rows, copySQL(g, stage), g.t.ident, refused); err != nil {
		return c, err
	}
	keys := make([]string, len(g.keyCols))
	copy(keys, cols[:len(g.keyCols)])
	var sql strings.Builder
	fmt.Fprintf(&sql, "INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT (%s) ", g.t.ident, colList, colList, stage, strings.Join(keys, ", "))
	if !s.cfg.upsert || len(cols) == len(keys) {
		sql.WriteString("DO NOTHING")
	} else {
		sql.WriteString("DO UPDATE SET ")
		for i, c := range cols[len(keys):] {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString(c + " = EXCLUDED." + c)
		}
	}
	if _, err := tx.Exec(ctx, sql.String()); err != nil {
		return nil, fmt.Errorf("%s into %s: %w", s.modeVerb(), g.t.ident, err)
	}
	return nil, nil
}

// copySQL is the COPY statement for the group's columns into target.
func copySQL(g *group, target string) string {
	cols := make([]string, len(g.cols))
	for i, c := range g.cols {
		cols[i] = quoteIdent(g.t.cols[c.col].name)
	}
	format := ""
	if g.binary() {
		format = " WITH (FORMAT binary)"
	}
	return "COPY " + target + " (" + strings.Join(cols, ", ") + ") FROM STDIN" + format
}

func (s *Sink) modeVerb() string {
	if s.cfg.upsert {
		return "upsert"
	}
	return "insert"
}

// copyRows streams rows with COPY in text format. A value the encoder cannot
// translate refuses its record and leaves it out; an error the server reports
// on a line is returned with the record it came from.
func (s *Sink) copyRows(ctx context.Context, tx execer, g *group, rows []*row, sql, target string, refused refusals) (*culprit, error) {
	return s.copyFrom(ctx, tx, &copyReader{s: s, g: g, rows: rows, refused: refused, binary: g.binary()}, sql, target)
}

// copyFrom runs one COPY from r.
func (s *Sink) copyFrom(ctx context.Context, tx execer, r *copyReader, sql, target string) (*culprit, error) {
	_, err := tx.PgConn().CopyFrom(ctx, r, sql)
	if err != nil {
		if line := copyErrorLine(err); line > 0 && line <= len(r.lines) {
			return &culprit{idx: r.lines[line-1].idx, where: "copy into " + target}, err
		}
		return nil, fmt.Errorf("copy into %s: %w", target, err)
	}
	return nil, nil
}

// copyReader encodes rows into COPY text on demand, so encoding overlaps
// with the server parsing what was already sent.
type copyReader struct {
	s       *Sink
	g       *group
	rows    []*row
	pos     int
	buf     []byte
	off     int
	scratch []byte
	lines   []*row // the row on each line sent, for error reports
	refused refusals
	binary  bool
	started bool
	ended   bool
	// more, when set, yields further rows after rows (nil: no more); it
	// may block while they are being parsed.
	more func() *row
}

func (r *copyReader) nextRow() *row {
	if r.pos < len(r.rows) {
		r.pos++
		return r.rows[r.pos-1]
	}
	if r.more != nil {
		return r.more()
	}
	return nil
}

// binaryHeader starts a binary COPY stream: signature, flags, no extension.
var binaryHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func (r *copyReader) Read(p []byte) (int, error) {
	for r.off >= len(r.buf) {
		if r.ended {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		if r.binary && !r.started {
			r.buf = append(r.buf, binaryHeader...)
		}
		r.started = true
		for len(r.buf) < copyChunk {
			rw := r.nextRow()
			if rw == nil {
				if r.binary {
					r.buf = append(r.buf, 0xff, 0xff) // trailer: field count -1
				}
				r.ended = true
				break
			}
			if r.binary {
				r.encodeBinary(rw)
			} else {
				r.encode(rw)
			}
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// encodeBinary appends one tuple in binary COPY format.
func (r *copyReader) encodeBinary(rw *row) {
	start := len(r.buf)
	cols := r.g.t.cols
	r.buf = binary.BigEndian.AppendUint16(r.buf, uint16(len(r.g.cols)))
	for i := range r.g.cols {
		c := &r.g.cols[i]
		v := r.s.cellValue(rw, c)
		if v == nil || v.Kind() == kNull {
			r.buf = binary.BigEndian.AppendUint32(r.buf, 0xffffffff)
			continue
		}
		lenAt := len(r.buf)
		r.buf = append(r.buf, 0, 0, 0, 0)
		var err error
		r.buf, err = cols[c.col].bin(r.buf, v)
		if err != nil {
			r.buf = r.buf[:start]
			r.refused.add(rw.idx, fmt.Errorf("%w: column %q (%s): %v", ErrBadValue, cols[c.col].name, cols[c.col].typ.Name, err))
			return
		}
		binary.BigEndian.PutUint32(r.buf[lenAt:], uint32(len(r.buf)-lenAt-4))
	}
	r.lines = append(r.lines, rw)
}

func (r *copyReader) encode(rw *row) {
	start := len(r.buf)
	cols := r.g.t.cols
	for i, c := range r.g.cols {
		if i > 0 {
			r.buf = append(r.buf, '\t')
		}
		var err error
		r.buf, err = cols[c.col].enc.appendCopy(r.buf, r.s.cellValue(rw, &r.g.cols[i]), &r.scratch)
		if err != nil {
			r.buf = r.buf[:start]
			r.refused.add(rw.idx, fmt.Errorf("%w: column %q (%s): %v", ErrBadValue, cols[c.col].name, cols[c.col].typ.Name, err))
			return
		}
	}
	r.buf = append(r.buf, '\n')
	r.lines = append(r.lines, rw)
}

// deleteRows deletes the rows whose keys the tombstones carry.
func (s *Sink) deleteRows(ctx context.Context, tx pgx.Tx, g *group, rows []*row) error {
	n := len(g.keyCols)
	args := make([]any, n)
	arrays := make([][]string, n)
	var sql strings.Builder
	fmt.Fprintf(&sql, "DELETE FROM %s AS t USING unnest(", g.t.ident)
	for i := 0; i < n; i++ {
		if i > 0 {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "$%d::text[]", i+1)
	}
	sql.WriteString(") AS d(")
	for i := 0; i < n; i++ {
		if i > 0 {
			sql.WriteString(", ")
		}
		fmt.Fprintf(&sql, "k%d", i)
	}
	sql.WriteString(") WHERE ")
	for i := 0; i < n; i++ {
		col := g.t.cols[g.cols[i].col]
		if i > 0 {
			sql.WriteString(" AND ")
		}
		fmt.Fprintf(&sql, "t.%s = d.k%d::%s", quoteIdent(col.name), i, col.typ.Name)
		arrays[i] = make([]string, 0, len(rows))
	}
	for _, r := range rows {
		for i := 0; i < n; i++ {
			t, _, _ := g.t.cols[g.cols[i].col].enc.text(s.cellValue(r, &g.cols[i])) // checked by keyText
			arrays[i] = append(arrays[i], t)
		}
	}
	for i := range arrays {
		args[i] = arrays[i]
	}
	if _, err := tx.Exec(ctx, sql.String(), args...); err != nil {
		return fmt.Errorf("delete from %s: %w", g.t.ident, err)
	}
	return nil
}

// applyEach applies deletes and writes one record at a time, each behind a
// savepoint, refusing the records the database rejects.
func (s *Sink) applyEach(ctx context.Context, tx pgx.Tx, g *group, deletes, writes []*row, refused refusals) error {
	one := func(r *row, fn func() error) error {
		if _, err := tx.Exec(ctx, "SAVEPOINT sluice_row"); err != nil {
			return err
		}
		err := fn()
		if err == nil {
			if g.stage != "" {
				if _, err := tx.Exec(ctx, "DELETE FROM "+quoteIdent(g.stage)); err != nil {
					return err
				}
			}
			_, err = tx.Exec(ctx, "RELEASE SAVEPOINT sluice_row")
			return err
		}
		if !isDataError(err) {
			return err
		}
		refused.add(r.idx, fmt.Errorf("%s: %s", g.t.ident, describePgError(err)))
		_, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT sluice_row")
		return rerr
	}
	for _, r := range deletes {
		if err := one(r, func() error { return s.deleteRows(ctx, tx, g, []*row{r}) }); err != nil {
			return err
		}
	}
	for _, r := range writes {
		if _, bad := refused[r.idx]; bad {
			continue
		}
		if err := one(r, func() error {
			_, err := s.writeRows(ctx, txExecer{tx}, g, []*row{r}, refused)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// ensureStage makes the temporary table upserts copy into: the group's
// columns with the target's types, no constraints, emptied at commit.
func (s *Sink) ensureStage(ctx context.Context, g *group) error {
	cols := make([]string, len(g.cols))
	for i, c := range g.cols {
		cols[i] = quoteIdent(g.t.cols[c.col].name)
	}
	colList := strings.Join(cols, ", ")
	sig := g.t.ident + "\x00" + strconv.Itoa(g.t.version) + "\x00" + colList
	if name, ok := s.stages[sig]; ok {
		g.stage = name
		return nil
	}
	if len(s.stages) >= maxStages {
		for k, name := range s.stages {
			if _, err := s.conn.Exec(ctx, "DROP TABLE IF EXISTS "+quoteIdent(name)); err != nil {
				return fmt.Errorf("drop staging table: %w", err)
			}
			delete(s.stages, k)
		}
	}
	s.stageSeq++
	name := fmt.Sprintf("sluice_stage_%d", s.stageSeq)
	_, err := s.conn.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DELETE ROWS AS SELECT %s FROM %s WITH NO DATA",
		quoteIdent(name), colList, g.t.ident))
	if err != nil {
		return fmt.Errorf("create staging table for %s: %w", g.t.ident, err)
	}
	s.stages[sig] = name
	g.stage = name
	return nil
}

// isStaleError recognises errors that mean the sink's idea of a table is out
// of date: a column or table that is gone, or a type that changed.
func isStaleError(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42703", "42P01", "42804", "0A000": // undefined column/table, datatype mismatch, cached plan
		return true
	}
	return false
}
