package postgres

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics of the PostgreSQL connectors, registered with Prometheus's default
// registry (the SDK gives connectors no registry of their own; see the
// package doc). Label values are connector names and table names, which come
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

func init() {
	for _, c := range []prometheus.Collector{sinkRows, sinkRefused, sinkRetries, cdcChanges, cdcConfirmed, pollRows} {
		if err := prometheus.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				panic(err) // a programming mistake in the definitions above
			}
		}
	}
}
