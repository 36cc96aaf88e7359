package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

func init() {
	connectors.Register(connectors.Plugin{
		Name: SinkPluginName,
		Kind: connectors.KindSink,
		Doc: "Writes records to PostgreSQL tables with COPY: insert, upsert on a key, delete on tombstone, " +
			"automatic table creation and column evolution from Arrow schemas or schemaless JSON, and an " +
			"exactly-once mode that stores offsets in the database in the same transaction as the rows.",
		Spec:    SinkSpec,
		NewSink: func() connectors.Sink { return NewSink() },
	})
}

// Sink writes records into PostgreSQL. Each Write is one transaction: rows
// are streamed with COPY (through a temporary staging table for upserts and
// insert-if-absent), tombstones become DELETEs, and in exactly-once mode the
// next offset of every topic-partition is stored in the same transaction.
//
// A Sink is used from one goroutine (the worker's task loop).
type Sink struct {
	cfg  *sinkConfig
	task connectors.TaskInfo
	log  *slog.Logger

	conn      *pgx.Conn
	tables    map[string]*table // by table name, for the current connection's view
	stages    map[string]string // stage signature → temp table name, per connection
	stageSeq  int
	offsetsOK bool // offsets table exists (exactly-once)
}

var (
	_ connectors.Sink        = (*Sink)(nil)
	_ connectors.OffsetStore = (*Sink)(nil)
)

// NewSink returns an unopened sink; the worker calls Open.
func NewSink() *Sink { return &Sink{} }

// Open parses the config and connects. A database that is down at Open is
// not an error worth failing the task for: the error is Retriable.
func (s *Sink) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config) error {
	c, err := parseSinkConfig(cfg, task.Connector)
	if err != nil {
		return err
	}
	s.cfg, s.task = c, task
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	registerMetrics(task, s.log)
	s.tables = map[string]*table{}
	if err := s.connect(ctx); err != nil {
		return err
	}
	return nil
}

// connect (re)opens the connection when there is none.
func (s *Sink) connect(ctx context.Context) error {
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	s.dropConn()
	conn, err := pgx.ConnectConfig(ctx, s.cfg.connConfig)
	if err != nil {
		return s.classify(fmt.Errorf("postgres sink: connect to %s:%d: %w", s.cfg.connConfig.Host, s.cfg.connConfig.Port, err))
	}
	s.conn = conn
	s.stages = map[string]string{}
	s.log.Debug("postgres sink connected", "host", s.cfg.connConfig.Host, "port", s.cfg.connConfig.Port)
	return nil
}

// dropConn closes the connection after a failure; the next call reconnects.
func (s *Sink) dropConn() {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = s.conn.Close(ctx)
		cancel()
	}
	s.conn = nil
	s.stages = nil
	// Cached tables may be stale after an outage (someone may have changed
	// them); reload on the next use.
	s.tables = map[string]*table{}
}

// classify marks transient errors Retriable (and drops the connection so the
// retry reconnects); other errors pass through and fail the task.
func (s *Sink) classify(err error) error {
	if err == nil {
		return nil
	}
	if isTransient(err) {
		s.dropConn()
		sinkRetries.WithLabelValues(s.task.Connector).Inc()
		return connectors.Retriable(err)
	}
	if s.conn != nil && s.conn.IsClosed() {
		s.dropConn()
		return connectors.Retriable(err)
	}
	return err
}

// Flush has nothing to do: every Write committed its transaction before it
// returned, so everything written is durable.
func (s *Sink) Flush(ctx context.Context, written connectors.Offsets) (connectors.Offsets, error) {
	return written, nil
}

// Close closes the connection.
func (s *Sink) Close(ctx context.Context) error {
	if s.conn != nil {
		err := s.conn.Close(ctx)
		s.conn = nil
		return err
	}
	return nil
}
