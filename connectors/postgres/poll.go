package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connectors"
)

func init() {
	connectors.Register(connectors.Plugin{
		Name: PollSourcePluginName,
		Kind: connectors.KindSource,
		Doc: "Reads new and changed rows from a PostgreSQL table or query by polling an incrementing column, " +
			"a timestamp column, or both, resuming from the last position stored in the log.",
		Spec:      PollSourceSpec,
		NewSource: func() connectors.Source { return NewPollSource() },
	})
}

// pollPos is the polling source's position: the tracking columns of the
// last row emitted, as PostgreSQL prints them.
type pollPos struct {
	Inc string `json:"inc,omitempty"`
	TS  string `json:"ts,omitempty"`
}

// PollSource emits the rows of a table or query whose incrementing column
// and/or timestamp column moved past the last position, in that order. Like
// Kafka Connect's JDBC source, it sees the rows as they are at query time:
// deletes are invisible and intermediate updates between polls are missed;
// use the CDC source when those matter.
type PollSource struct {
	task connectors.TaskInfo
	log  *slog.Logger

	cc        *pgx.ConnConfig
	conn      *pgx.Conn
	from      string // FROM clause: a quoted table or a wrapped query
	table     [2]string
	incCol    string
	tsCol     string
	delay     time.Duration
	interval  time.Duration
	keyCols   []string
	maxBatch  int
	topic     string
	partition string

	pos       pollPos
	types     *typeCache
	rel       *relation
	relSig    string
	nextQuery time.Time
}

var _ connectors.Source = (*PollSource)(nil)

// NewPollSource returns an unopened polling source.
func NewPollSource() *PollSource { return &PollSource{} }

// Open validates the config, connects and resumes after the committed
// position.
func (s *PollSource) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.task, s.log = task, task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	registerMetrics(task, s.log)
	var errs []connectors.FieldError
	bad := func(field, msg string) { errs = append(errs, connectors.FieldError{Field: field, Message: msg}) }
	table, query := cfg.String("table"), strings.TrimSpace(cfg.String("query"))
	query = strings.TrimRight(query, "; \t\n")
	switch {
	case table == "" && query == "":
		bad("table", "set table or query")
	case table != "" && query != "":
		bad("query", "set table or query, not both")
	}
	mode := cfg.String("mode")
	if mode == "" {
		mode = "incrementing"
	}
	if strings.Contains(mode, "incrementing") {
		if s.incCol = cfg.String("incrementing.column"); s.incCol == "" {
			bad("incrementing.column", "required in mode "+mode)
		}
	}
	if strings.Contains(mode, "timestamp") {
		if s.tsCol = cfg.String("timestamp.column"); s.tsCol == "" {
			bad("timestamp.column", "required in mode "+mode)
		}
	}
	if len(errs) > 0 {
		return &connectors.ConfigError{Errors: errs}
	}
	cc, err := sourceConnConfig(cfg, "poll", task.Connector)
	if err != nil {
		return err
	}
	s.cc = cc
	s.delay = cfg.Duration("timestamp.delay")
	s.interval = durationOr(cfg.Duration("poll.interval"), time.Second)
	s.keyCols = cfg.List("key.columns")
	s.maxBatch = int(cfg.Int("max.batch.size"))
	if s.maxBatch <= 0 {
		s.maxBatch = 2048
	}
	s.types = newTypeCache()
	namer := newTopicNamer(cfg, task.Connector)
	if table != "" {
		s.table[0], s.table[1] = splitTableName(table)
		s.from = quoteIdent(s.table[0], s.table[1])
		s.partition = "table:" + s.table[0] + "." + s.table[1]
		s.topic = namer.topic(s.table[0], s.table[1])
	} else {
		s.from = "(" + query + ") AS sluice_query"
		sum := sha256.Sum256([]byte(query))
		s.partition = "query:" + hex.EncodeToString(sum[:8])
		s.topic = namer.topic("query", task.Connector)
		if namer.prefix != "" {
			s.topic = namer.prefix
		}
	}
	if _, err := committed.Decode(s.partition, &s.pos); err != nil {
		return err
	}
	return s.connect(ctx)
}

func (s *PollSource) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.ConnectConfig(ctx, s.cc)
	if err != nil {
		return s.classify(fmt.Errorf("postgres poll: connect: %w", err))
	}
	s.conn = conn
	if s.table[1] != "" && len(s.keyCols) == 0 {
		specs, err := tableColumns(ctx, conn, s.table[0], s.table[1])
		if err != nil {
			return s.classify(err)
		}
		for _, sp := range specs {
			if sp.key {
				s.keyCols = append(s.keyCols, sp.name)
			}
		}
	}
	return nil
}

func (s *PollSource) classify(err error) error {
	if s.conn != nil && s.conn.IsClosed() {
		s.conn = nil
		return connectors.Retriable(err)
	}
	if isTransient(err) {
		if s.conn != nil {
			_ = s.conn.Close(context.Background())
			s.conn = nil
		}
		return connectors.Retriable(err)
	}
	return err
}

// query builds the polling statement and its parameters (all text).
func (s *PollSource) query() (string, [][]byte) {
	var where []string
	var params [][]byte
	param := func(v string) string {
		params = append(params, []byte(v))
		return "$" + strconv.Itoa(len(params))
	}
	inc, ts := quoteIdent(s.incCol), quoteIdent(s.tsCol)
	order := []string{}
	if s.tsCol != "" {
		where = append(where, ts+" < now() - "+param(strconv.FormatInt(s.delay.Microseconds(), 10))+"::bigint * interval '1 microsecond'")
		order = append(order, ts)
	}
	if s.incCol != "" {
		where = append(where, inc+" IS NOT NULL")
		order = append(order, inc)
	}
	switch {
	case s.tsCol != "" && s.incCol != "" && s.pos.TS != "":
		p := param(s.pos.TS)
		where = append(where, "("+ts+" > "+p+" OR ("+ts+" = "+p+" AND "+inc+" > "+param(s.pos.Inc)+"))")
	case s.tsCol != "" && s.pos.TS != "":
		where = append(where, ts+" > "+param(s.pos.TS))
	case s.incCol != "" && s.tsCol == "" && s.pos.Inc != "":
		where = append(where, inc+" > "+param(s.pos.Inc))
	}
	sql := "SELECT * FROM " + s.from
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY " + strings.Join(order, ", ")
	// Timestamp alone cannot break ties: read one more row than a batch to
	// see whether the last timestamp continues past the limit.
	sql += " LIMIT " + strconv.Itoa(s.maxBatch+1)
	return sql, params
}

// Poll runs the query when it is due and returns the rows past the
// position, oldest first.
func (s *PollSource) Poll(ctx context.Context) ([]connectors.Record, error) {
	if wait := time.Until(s.nextQuery); wait > 0 {
		if wait > time.Second {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(wait):
		}
		if time.Now().Before(s.nextQuery) {
			return nil, nil
		}
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	sql, params := s.query()
	rr := s.conn.PgConn().ExecParams(ctx, sql, params, nil, nil, nil)
	var rows [][][]byte
	for rr.NextRow() {
		vals := rr.Values()
		row := make([][]byte, len(vals))
		for i, v := range vals {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		rows = append(rows, row)
	}
	fields := rr.FieldDescriptions()
	if _, err := rr.Close(); err != nil {
		return nil, s.classify(fmt.Errorf("postgres poll: query %s: %w", s.from, err))
	}
	if len(rows) == 0 {
		s.nextQuery = time.Now().Add(s.interval)
		return nil, nil
	}
	if err := s.describe(ctx, fields); err != nil {
		return nil, s.classify(err)
	}
	incIdx, tsIdx := -1, -1
	if s.incCol != "" {
		if incIdx = s.colIndex(s.incCol); incIdx < 0 {
			return nil, fmt.Errorf("postgres poll: the query has no column %q (incrementing.column)", s.incCol)
		}
	}
	if s.tsCol != "" {
		if tsIdx = s.colIndex(s.tsCol); tsIdx < 0 {
			return nil, fmt.Errorf("postgres poll: the query has no column %q (timestamp.column)", s.tsCol)
		}
	}
	rows = s.trimBatch(rows, tsIdx, incIdx)
	if len(rows) < s.maxBatch {
		s.nextQuery = time.Now().Add(s.interval) // caught up
	} else {
		s.nextQuery = time.Time{}
	}
	out := make([]connectors.Record, 0, len(rows))
	for _, row := range rows {
		rec, err := s.record(row, incIdx, tsIdx)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	pollRows.WithLabelValues(s.task.Connector).Add(float64(len(out)))
	return out, nil
}

// trimBatch keeps at most a batch of rows. In timestamp-only mode a batch
// must not end inside a run of equal timestamps (the next query starts after
// that timestamp), so such a run is left for the next poll, or read whole.
func (s *PollSource) trimBatch(rows [][][]byte, tsIdx, incIdx int) [][][]byte {
	if len(rows) <= s.maxBatch {
		return rows
	}
	if tsIdx < 0 || incIdx >= 0 {
		return rows[:s.maxBatch]
	}
	last := string(rows[s.maxBatch][tsIdx])
	n := s.maxBatch
	for n > 0 && string(rows[n-1][tsIdx]) == last {
		n--
	}
	if n == 0 {
		// One timestamp fills the batch: read all rows of it.
		return s.allAt(rows, tsIdx, last)
	}
	return rows[:n]
}

// allAt reads every row with timestamp ts (a rare, large run of ties).
func (s *PollSource) allAt(head [][][]byte, tsIdx int, ts string) [][][]byte {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rr := s.conn.PgConn().ExecParams(ctx, "SELECT * FROM "+s.from+" WHERE "+quoteIdent(s.tsCol)+" = $1", [][]byte{[]byte(ts)}, nil, nil, nil)
	var rows [][][]byte
	for rr.NextRow() {
		vals := rr.Values()
		row := make([][]byte, len(vals))
		for i, v := range vals {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		rows = append(rows, row)
	}
	if _, err := rr.Close(); err != nil {
		s.log.Warn("postgres poll: reading a run of equal timestamps", "err", err)
		return head[:s.maxBatch]
	}
	return rows
}

// describe builds the relation for the result's columns, once per shape.
func (s *PollSource) describe(ctx context.Context, fields []pgconn.FieldDescription) error {
	var sig strings.Builder
	specs := make([]colSpec, len(fields))
	for i, f := range fields {
		specs[i] = colSpec{name: f.Name, oid: f.DataTypeOID, typmod: f.TypeModifier}
		for _, k := range s.keyCols {
			if k == f.Name {
				specs[i].key = true
			}
		}
		fmt.Fprintf(&sig, "%s/%d/%d/%t,", f.Name, f.DataTypeOID, f.TypeModifier, specs[i].key)
	}
	if s.rel != nil && s.relSig == sig.String() {
		return nil
	}
	name := s.table[1]
	if name == "" {
		name = "query"
	}
	rel, err := newRelation(ctx, s.conn, s.types, 0, s.table[0], name, specs)
	if err != nil {
		return fmt.Errorf("postgres poll: %w", err)
	}
	rel.topic = s.topic
	s.rel, s.relSig = rel, sig.String()
	return nil
}

func (s *PollSource) colIndex(name string) int {
	if i, ok := s.rel.byName[name]; ok {
		return i
	}
	return -1
}

func (s *PollSource) record(row [][]byte, incIdx, tsIdx int) (connectors.Record, error) {
	key, err := s.rel.keyJSON(row)
	if err != nil {
		return connectors.Record{}, err
	}
	val, err := s.rel.appendRowJSON(nil, row, nil, false)
	if err != nil {
		return connectors.Record{}, err
	}
	at := time.Now()
	if incIdx >= 0 {
		s.pos.Inc = string(row[incIdx])
	}
	if tsIdx >= 0 {
		s.pos.TS = string(row[tsIdx])
		if t, err := time.Parse("2006-01-02 15:04:05.999999Z07", s.pos.TS); err == nil {
			at = t
		} else if t, err := time.Parse("2006-01-02 15:04:05.999999", s.pos.TS); err == nil {
			at = t
		}
	}
	pos, err := connectors.NewPosition(s.partition, s.pos)
	if err != nil {
		return connectors.Record{}, err
	}
	return connectors.Record{Topic: s.topic, Key: key, Value: val, Schema: s.rel.rowSchema, Timestamp: at, Position: pos}, nil
}

// Commit has nothing to acknowledge upstream: the position lives in the log.
func (s *PollSource) Commit(ctx context.Context, positions []connectors.Position) error { return nil }

// Close closes the connection.
func (s *PollSource) Close(ctx context.Context) error {
	if s.conn != nil {
		err := s.conn.Close(ctx)
		s.conn = nil
		return err
	}
	return nil
}
