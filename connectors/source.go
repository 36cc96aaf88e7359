package connectors

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// TaskInfo tells a task who it is. Logger is already labelled with the
// connector and task.
type TaskInfo struct {
	Connector string
	Task      int
	Logger    *slog.Logger
	// Metrics is where the task registers its Prometheus collectors; the
	// worker serves them on its /metrics beside its own sluice_connect_*
	// series. Register with RegisterCollector, which tolerates the
	// collector being registered already (by another task of the plugin, or
	// by this task before a restart). Label series with the connector name
	// under the label "connector": the worker drops them when the connector
	// is deleted. Nil when a task is opened outside a worker (unit tests);
	// RegisterCollector then registers nothing.
	Metrics prometheus.Registerer
}

// Source reads from an external system. The worker calls Open once, then
// Poll in a loop from a single goroutine, and Commit from that same goroutine
// between polls, so a Source needs no locking of its own unless it runs
// goroutines of its own.
type Source interface {
	// Open starts the task. committed holds the last positions the worker
	// stored for this connector, keyed by Position.Partition; the source
	// resumes after them. cfg has been validated against the plugin's Spec,
	// with defaults applied.
	Open(ctx context.Context, task TaskInfo, cfg Config, committed Positions) error
	// Poll returns the next records, blocking until some are available or ctx
	// is done. Returning (nil, nil) is fine (nothing yet); the worker calls
	// again. Poll should return within about a second when idle so the worker
	// can commit, pause and stop promptly. The worker keeps nothing of the
	// returned slice once it calls Poll again, so a source may refill the
	// same slice; it must not change the bytes the records point to (keys,
	// values, headers, position offsets), which stay in flight.
	Poll(ctx context.Context) ([]Record, error)
	// Commit is called once records are durably in the log (produce
	// acknowledged and positions stored), with the latest position per source
	// partition among them. Sources that must acknowledge upstream (a
	// replication slot, an MQTT broker, an HTTP client) do it here.
	Commit(ctx context.Context, positions []Position) error
	// Close releases resources. It is called once, after the last Poll and
	// Commit, even when Open or Poll failed.
	Close(ctx context.Context) error
}

// TaskSplitter is implemented by sources that can run as several parallel
// tasks (tasks.max > 1). TaskConfigs returns one config per task, at most
// max; each task gets its own Source from Plugin.NewSource. Sources that do
// not implement it run as one task.
type TaskSplitter interface {
	TaskConfigs(cfg Config, max int) ([]map[string]string, error)
}

// ExactlyOnceSource is implemented by sources that can be exactly-once
// (KIP-618): their positions locate records exactly, so that a task
// restarted from the positions of the last committed transaction emits the
// very next record, repeating and skipping none, and their upstream does
// not deliver a record twice on its own. With the worker's
// exactly.once.source.support=enabled every source task writes its records
// and positions in one Kafka transaction; the connector setting
// exactly.once.support=required accepts only sources whose ExactlyOnce
// returns nil for the config.
type ExactlyOnceSource interface {
	// ExactlyOnce reports whether the source, configured as cfg, can be
	// exactly-once: nil if it can, otherwise an error saying why not (it
	// is shown to the user, so name the setting or the upstream at fault).
	ExactlyOnce(cfg Config) error
}

// TransactionDefiner is implemented by sources that define their own
// transaction boundaries (transaction.boundary=connector): they set
// Record.Transaction on the record that ends each transaction, for
// example the last change of an upstream database transaction. Records
// between boundaries stay in one open transaction, so a source that never
// marks one holds its transaction until the transaction timeout aborts it.
type TransactionDefiner interface {
	// DefinesTransactions reports whether the source, configured as cfg,
	// marks transaction boundaries: nil if it does, otherwise why not.
	DefinesTransactions(cfg Config) error
}
