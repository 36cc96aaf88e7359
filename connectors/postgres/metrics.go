package postgres

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
)

// Metrics of the PostgreSQL connectors, registered by each task with the
// registerer the worker gives it (TaskInfo.Metrics), so they are served on
// the worker's /metrics. Label values are connector names and table names, which come
// from configuration, so their number is bounded by it.
var (
	sinkRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "postgres_sink", Name: "rows_total",
		Help: "Rows the PostgreSQL sink committed, by operation (insert, upsert, delete).",
	}, []string{"connector", "table", "op"})
	sinkRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "postgres_sink", Name: "refused_total",
		Help: "Records the PostgreSQL sink refused for good (bad data), handed to errors.tolerance.",
	}, []string{"connector"})
	sinkRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "postgres_sink", Name: "transient_errors_total",
		Help: "Writes that failed with a transient error (connection lost, database restarting) and will be retried.",
	}, []string{"connector"})
	cdcChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "postgres_cdc", Name: "records_total",
		Help: "Records (change events and tombstones) the CDC source emitted.",
	}, []string{"connector"})
	cdcConfirmed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "sluice", Subsystem: "postgres_cdc", Name: "confirmed_lsn",
		Help: "LSN the CDC source last confirmed to the server (everything before it is in the log).",
	}, []string{"connector", "slot"})
	pollRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "postgres_poll", Name: "rows_total",
		Help: "Rows the polling source emitted.",
	}, []string{"connector"})
)

// collectors are registered with every task's registerer.
var collectors = []prometheus.Collector{sinkRows, sinkRefused, sinkRetries, cdcChanges, cdcConfirmed, pollRows}

// registerMetrics registers the package's vectors with the task's
// registerer (TaskInfo.Metrics: the worker serves it on /metrics). Tasks
// share the vectors, so registering again is a no-op. A failure is logged,
// never fatal: metrics must not stop the data.
func registerMetrics(task connectors.TaskInfo, log *slog.Logger) {
	for _, c := range collectors {
		got, err := connectors.RegisterCollector(task.Metrics, c)
		if err == nil && got != c {
			err = errors.New("an equal collector from elsewhere is registered; these series will not be served")
		}
		if err != nil {
			log.Warn("postgres connector metrics", "err", err)
		}
	}
}
