package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/connectors"
)

func init() {
	connectors.Register(connectors.Plugin{
		Name: CDCSourcePluginName,
		Kind: connectors.KindSource,
		Doc: "Captures inserts, updates and deletes from PostgreSQL by logical replication (pgoutput): " +
			"an initial consistent snapshot, then streaming; the slot's position is confirmed only once records are in the log.",
		Spec:      CDCSourceSpec,
		NewSource: func() connectors.Source { return NewCDCSource() },
	})
}

// cdcPos is the CDC source's position, stored by the worker. LSN is the end
// of the last transaction delivered whole (or the slot's consistent point);
// a transaction delivered in part is named by its commit LSN and the number
// of its changes already delivered, so a restart skips exactly those.
type cdcPos struct {
	LSN      string `json:"lsn"`
	TxLSN    string `json:"tx_lsn,omitempty"`
	TxSeen   int    `json:"tx_seen,omitempty"`
	Snapshot string `json:"snapshot,omitempty"` // "running" while the initial snapshot is read
}

// CDCSource streams changes from a logical replication slot. It is driven
// from one goroutine (the worker's task loop): Poll reads the replication
// stream, Commit confirms positions to the server; it starts no goroutines.
type CDCSource struct {
	task connectors.TaskInfo
	log  *slog.Logger
	cfg  cdcConfig

	conn  *pgx.Conn      // catalog queries, snapshot, heartbeat action
	repl  *pgconn.PgConn // the replication connection
	types *typeCache
	rels  map[uint32]*relation

	snap        *snapshotReader
	redoSnap    bool // the snapshot broke off: read it again (at least once)
	streaming   bool
	startLSN    pglogrepl.LSN // where streaming (re)starts
	resumeTx    pglogrepl.LSN // a transaction delivered in part...
	resumeSeen  int           // ...and how many of its changes
	complete    pglogrepl.LSN // end of the last transaction delivered whole
	emitted     cdcPos        // position of the last record handed out
	inflight    bool          // records handed out but not yet committed
	acked       pglogrepl.LSN // confirmed to the server
	idleWALEnd  pglogrepl.LSN // server's sent position seen between transactions
	inTx        bool
	tx          txState
	pending     []connectors.Record // the current transaction's records so far
	nextStatus  time.Time
	nextHB      time.Time
	buf         []byte
	statusCount int // standby status updates sent, for tests
}

type txState struct {
	final      pglogrepl.LSN
	xid        uint32
	commitTime time.Time
	seen, skip int
}

type cdcConfig struct {
	conn        *pgx.ConnConfig
	slot, pub   string
	slotCreate  bool
	pubCreate   bool
	pubTables   []string
	snapshot    bool
	format      string
	tombstones  bool
	maxBatch    int
	statusEvery time.Duration
	hbEvery     time.Duration
	hbQuery     string
	topics      topicNamer
	partition   string
	idleWait    time.Duration
	batchLinger time.Duration
	database    string
}

var _ connectors.Source = (*CDCSource)(nil)

// NewCDCSource returns an unopened CDC source.
func NewCDCSource() *CDCSource { return &CDCSource{} }

// Open connects, makes sure the publication and slot exist (creating them
// when allowed) and decides where to start: after the committed position, or
// with a snapshot.
func (s *CDCSource) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.task, s.log = task, task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	registerMetrics(task, s.log)
	c := cdcConfig{
		slot:        cfg.String("slot.name"),
		pub:         cfg.String("publication.name"),
		slotCreate:  cfg.Bool("slot.create"),
		pubCreate:   cfg.Bool("publication.create"),
		pubTables:   cfg.List("publication.tables"),
		snapshot:    cfg.String("snapshot.mode") != "never",
		format:      cfg.String("value.format"),
		tombstones:  cfg.Bool("tombstones.on.delete"),
		maxBatch:    int(cfg.Int("max.batch.size")),
		statusEvery: durationOr(cfg.Duration("status.interval"), 10*time.Second),
		hbEvery:     cfg.Duration("heartbeat.interval"),
		hbQuery:     cfg.String("heartbeat.action.query"),
		topics:      newTopicNamer(cfg, task.Connector),
		idleWait:    500 * time.Millisecond,
		batchLinger: 20 * time.Millisecond,
	}
	if c.slot == "" {
		c.slot = defaultName(task.Connector)
	}
	if c.pub == "" {
		c.pub = defaultName(task.Connector)
	}
	if c.format == "" {
		c.format = ValueFormatEnvelope
	}
	if c.maxBatch <= 0 {
		c.maxBatch = 2048
	}
	if c.hbEvery > 0 && c.hbQuery == "" {
		return &connectors.ConfigError{Errors: []connectors.FieldError{{Field: "heartbeat.action.query", Message: "required when heartbeat.interval is set"}}}
	}
	cc, err := sourceConnConfig(cfg, "cdc", task.Connector)
	if err != nil {
		return err
	}
	c.conn, c.database = cc, cc.Database
	c.partition = "slot:" + c.slot
	s.cfg = c
	s.types = newTypeCache()
	s.rels = map[uint32]*relation{}

	var pos cdcPos
	found, err := committed.Decode(c.partition, &pos)
	if err != nil {
		return err
	}
	if found {
		if s.complete, err = parseLSN(pos.LSN); err != nil {
			return fmt.Errorf("postgres cdc: committed position: %w", err)
		}
		s.startLSN = s.complete
		if pos.TxLSN != "" {
			if s.resumeTx, err = parseLSN(pos.TxLSN); err != nil {
				return fmt.Errorf("postgres cdc: committed position: %w", err)
			}
			s.resumeSeen = pos.TxSeen
		}
		s.emitted = pos
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	if err := s.ensurePublication(ctx); err != nil {
		return s.classify(err)
	}
	created, snapName, cp, err := s.ensureSlot(ctx)
	if err != nil {
		return s.classify(err)
	}
	if created && found {
		s.log.Warn("postgres cdc: the slot was missing and has been created again; changes made while it did not exist are not captured",
			"slot", c.slot, "last_position", pos.LSN)
	}
	switch {
	case !c.snapshot:
	case found && pos.Snapshot == "":
		// Resuming a stream: the snapshot was read before.
	case created:
		s.startLSN, s.complete = cp, cp
		if err := s.startSnapshot(ctx, snapName, cp); err != nil {
			return s.classify(err)
		}
	default:
		// The slot exists but its snapshot is gone (a restart during the
		// snapshot, or a slot made elsewhere): read the tables now and
		// stream from the slot's position. Rows changed in between may be
		// emitted twice; none are lost.
		s.log.Warn("postgres cdc: reading the snapshot again without the slot's exported snapshot; some rows may be emitted twice",
			"slot", c.slot)
		s.startLSN, s.complete, s.resumeTx = 0, 0, 0
		if err := s.startSnapshot(ctx, "", 0); err != nil {
			return s.classify(err)
		}
	}
	return nil
}

// connect opens the normal and the replication connections as needed.
func (s *CDCSource) connect(ctx context.Context) error {
	if s.conn == nil || s.conn.IsClosed() {
		conn, err := pgx.ConnectConfig(ctx, s.cfg.conn)
		if err != nil {
			return s.classify(fmt.Errorf("postgres cdc: connect: %w", err))
		}
		s.conn = conn
	}
	if s.repl == nil || s.repl.IsClosed() {
		rc := s.cfg.conn.Config.Copy()
		rc.RuntimeParams["replication"] = "database"
		repl, err := pgconn.ConnectConfig(ctx, rc)
		if err != nil {
			return s.classify(fmt.Errorf("postgres cdc: replication connection: %w", err))
		}
		s.repl = repl
		s.streaming = false
	}
	return nil
}

// classify marks transient failures Retriable and drops broken connections
// so the next call reconnects.
func (s *CDCSource) classify(err error) error {
	if err == nil {
		return nil
	}
	transient := isTransient(err)
	if s.conn != nil && s.conn.IsClosed() {
		s.conn, transient = nil, true
	}
	if s.repl != nil && s.repl.IsClosed() {
		s.repl, s.streaming, transient = nil, false, true
	}
	if transient {
		if s.snap != nil {
			s.abandonSnapshot()
		}
		return connectors.Retriable(err)
	}
	return err
}

func (s *CDCSource) ensurePublication(ctx context.Context) error {
	var exists bool
	if err := s.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, s.cfg.pub).Scan(&exists); err != nil {
		return fmt.Errorf("postgres cdc: look up publication: %w", err)
	}
	if exists {
		return nil
	}
	if !s.cfg.pubCreate {
		return fmt.Errorf("postgres cdc: publication %q: %w", s.cfg.pub, ErrPublicationMissing)
	}
	sql := "CREATE PUBLICATION " + quoteIdent(s.cfg.pub)
	if len(s.cfg.pubTables) == 0 {
		sql += " FOR ALL TABLES"
	} else {
		names := make([]string, len(s.cfg.pubTables))
		for i, t := range s.cfg.pubTables {
			names[i] = quoteIdent(splitTableName(t))
		}
		sql += " FOR TABLE " + strings.Join(names, ", ")
	}
	if _, err := s.conn.Exec(ctx, sql); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("postgres cdc: create publication %q: %w", s.cfg.pub, err)
	}
	s.log.Info("postgres cdc: created publication", "publication", s.cfg.pub, "tables", s.cfg.pubTables)
	return nil
}

// ensureSlot creates the slot when missing (and allowed). A new slot exports
// its snapshot for the initial read.
func (s *CDCSource) ensureSlot(ctx context.Context) (created bool, snapshot string, cp pglogrepl.LSN, err error) {
	var plugin string
	err = s.conn.QueryRow(ctx, `SELECT coalesce(plugin, '') FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.slot).Scan(&plugin)
	if err == nil {
		if plugin != "pgoutput" {
			return false, "", 0, fmt.Errorf("postgres cdc: slot %q uses plugin %q, not pgoutput", s.cfg.slot, plugin)
		}
		return false, "", 0, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, "", 0, fmt.Errorf("postgres cdc: look up slot: %w", err)
	}
	if !s.cfg.slotCreate {
		return false, "", 0, fmt.Errorf("postgres cdc: slot %q: %w", s.cfg.slot, ErrSlotMissing)
	}
	action := "NOEXPORT_SNAPSHOT"
	if s.cfg.snapshot {
		action = "EXPORT_SNAPSHOT"
	}
	res, err := pglogrepl.CreateReplicationSlot(ctx, s.repl, s.cfg.slot, "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: action})
	if err != nil {
		return false, "", 0, fmt.Errorf("postgres cdc: create slot %q: %w", s.cfg.slot, err)
	}
	cp, err = pglogrepl.ParseLSN(res.ConsistentPoint)
	if err != nil {
		return false, "", 0, fmt.Errorf("postgres cdc: slot %q consistent point %q: %w", s.cfg.slot, res.ConsistentPoint, err)
	}
	s.log.Info("postgres cdc: created replication slot", "slot", s.cfg.slot, "consistent_point", cp)
	return true, res.SnapshotName, cp, nil
}

// Poll returns the next records: snapshot rows first, then changes.
func (s *CDCSource) Poll(ctx context.Context) ([]connectors.Record, error) {
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if s.redoSnap {
		s.redoSnap = false
		s.startLSN, s.complete, s.resumeTx = 0, 0, 0
		if err := s.startSnapshot(ctx, "", 0); err != nil {
			s.redoSnap = true
			return nil, s.classify(err)
		}
	}
	if s.snap != nil {
		recs, err := s.pollSnapshot(ctx)
		if err != nil {
			return nil, s.classify(err)
		}
		s.handOut(recs)
		return recs, nil
	}
	if !s.streaming {
		if err := s.startStreaming(ctx); err != nil {
			return nil, s.classify(err)
		}
	}
	s.heartbeat(ctx)
	recs, err := s.pollStream(ctx)
	s.handOut(recs)
	if err != nil {
		// Whatever went wrong, the stream restarts from the last record
		// handed out, and the server describes its relations again.
		s.log.Warn("postgres cdc: replication stream interrupted; restarting it", "err", err)
		s.resetStream()
		if len(recs) > 0 {
			return recs, nil // deliver what is complete
		}
		if !isTransient(err) {
			err = connectors.Retriable(err)
		}
		return nil, s.classify(err)
	}
	return recs, nil
}

// handOut notes the position of the last record handed to the worker.
func (s *CDCSource) handOut(recs []connectors.Record) {
	if len(recs) > 0 {
		cdcChanges.WithLabelValues(s.task.Connector).Add(float64(len(recs)))
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if p := recs[i].Position; !p.IsZero() {
			var pos cdcPos
			if err := decodePosition(p, &pos); err == nil {
				s.emitted, s.inflight = pos, true
			}
			return
		}
	}
}

// resetStream closes the replication connection after a failure; the next
// Poll reconnects and starts streaming again.
func (s *CDCSource) resetStream() {
	if s.repl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = s.repl.Close(ctx)
		cancel()
	}
	s.repl, s.streaming, s.inTx, s.pending = nil, false, false, nil
}

// startStreaming (re)starts replication where the last handed-out record
// left off, so a reconnect neither loses nor repeats changes.
func (s *CDCSource) startStreaming(ctx context.Context) error {
	if s.emitted.LSN != "" && s.emitted.Snapshot == "" {
		lsn, err := parseLSN(s.emitted.LSN)
		if err != nil {
			return err
		}
		s.startLSN, s.complete = lsn, lsn
		s.resumeTx, s.resumeSeen = 0, 0
		if s.emitted.TxLSN != "" {
			if s.resumeTx, err = parseLSN(s.emitted.TxLSN); err != nil {
				return err
			}
			s.resumeSeen = s.emitted.TxSeen
		}
	}
	args := []string{"proto_version '1'", "publication_names '" + s.cfg.pub + "'"}
	if err := pglogrepl.StartReplication(ctx, s.repl, s.cfg.slot, s.startLSN,
		pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args}); err != nil {
		return fmt.Errorf("postgres cdc: start replication on slot %q at %s: %w", s.cfg.slot, s.startLSN, err)
	}
	s.streaming = true
	s.inTx = false
	s.pending = nil
	if s.acked < s.startLSN {
		s.acked = s.startLSN
	}
	s.nextStatus = time.Now().Add(s.cfg.statusEvery)
	s.log.Debug("postgres cdc: streaming", "slot", s.cfg.slot, "from", s.startLSN)
	return nil
}

// Commit confirms to the server everything up to the committed position:
// the records are durably in the log, so the slot may release that WAL.
func (s *CDCSource) Commit(ctx context.Context, positions []connectors.Position) error {
	for _, p := range positions {
		if p.Partition != s.cfg.partition {
			continue
		}
		var pos cdcPos
		if err := decodePosition(p, &pos); err != nil {
			return err
		}
		if pos == s.emitted {
			s.inflight = false
		}
		if pos.Snapshot != "" {
			continue // nothing streamed yet to confirm
		}
		lsn, err := parseLSN(pos.LSN)
		if err != nil {
			return err
		}
		if lsn > s.acked {
			s.acked = lsn
		}
	}
	if s.streaming && s.repl != nil {
		if err := s.sendStatus(ctx); err != nil {
			return s.classify(err)
		}
	}
	return nil
}

// sendStatus sends a standby status update confirming s.acked. When nothing
// is in flight and no transaction is open, everything the server has sent
// is done, so the confirmation moves up to the server's sent position: a
// quiet publication does not pin WAL.
func (s *CDCSource) sendStatus(ctx context.Context) error {
	if !s.inflight && !s.inTx && len(s.pending) == 0 && s.idleWALEnd > s.acked {
		s.acked = s.idleWALEnd
	}
	err := pglogrepl.SendStandbyStatusUpdate(ctx, s.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: s.acked})
	if err != nil {
		return fmt.Errorf("postgres cdc: standby status update: %w", err)
	}
	s.statusCount++
	s.nextStatus = time.Now().Add(s.cfg.statusEvery)
	cdcConfirmed.WithLabelValues(s.task.Connector, s.cfg.slot).Set(float64(s.acked))
	return nil
}

// heartbeat runs heartbeat.action.query when it is due. Failures are logged:
// a heartbeat is an aid, not the job.
func (s *CDCSource) heartbeat(ctx context.Context) {
	if s.cfg.hbEvery <= 0 || time.Now().Before(s.nextHB) {
		return
	}
	s.nextHB = time.Now().Add(s.cfg.hbEvery)
	if _, err := s.conn.Exec(ctx, s.cfg.hbQuery); err != nil {
		s.log.Warn("postgres cdc: heartbeat.action.query failed", "err", err)
		if s.conn.IsClosed() {
			s.conn = nil
		}
	}
}

// Close closes the connections. It never drops the slot: that would lose
// the changes made while the connector is away.
func (s *CDCSource) Close(ctx context.Context) error {
	if s.snap != nil {
		s.abandonSnapshot()
	}
	var errs []error
	if s.repl != nil {
		errs = append(errs, s.repl.Close(ctx))
		s.repl = nil
	}
	if s.conn != nil {
		errs = append(errs, s.conn.Close(ctx))
		s.conn = nil
	}
	return errors.Join(errs...)
}

func parseLSN(s string) (pglogrepl.LSN, error) {
	if s == "" {
		return 0, nil
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		return 0, fmt.Errorf("LSN %q: %w", s, err)
	}
	return lsn, nil
}

func decodePosition(p connectors.Position, v any) error {
	ok, err := connectors.Positions{p.Partition: p.Offset}.Decode(p.Partition, v)
	if err == nil && !ok {
		return fmt.Errorf("source position %q is empty", p.Partition)
	}
	return err
}
