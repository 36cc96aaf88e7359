package parquet

import (
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
)

// Metrics of the Parquet sink, registered by each task with the registerer
// the worker gives it (TaskInfo.Metrics), so they are served on the
// worker's /metrics. The one label is the connector name, which comes from
// configuration.
var (
	sinkFiles = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "parquet_sink", Name: "files_committed_total",
		Help: "Parquet files the sink renamed into place.",
	}, []string{"connector"})
	sinkRows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "parquet_sink", Name: "rows_total",
		Help: "Rows in the Parquet files the sink committed.",
	}, []string{"connector"})
	sinkBytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "parquet_sink", Name: "bytes_total",
		Help: "Size on disk of the Parquet files the sink committed.",
	}, []string{"connector"})
	sinkDiscarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "sluice", Subsystem: "parquet_sink", Name: "files_discarded_total",
		Help: "Open files the sink discarded (revoked partitions, shutdown, write errors); their records are written again from the last committed offset.",
	}, []string{"connector"})
	sinkCommitSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "sluice", Subsystem: "parquet_sink", Name: "commit_seconds",
		Help:    "Time to commit one file: last row group and footer, fsync, rename, directory fsync.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12), // 0.5ms .. ~12s
	}, []string{"connector"})
)

var collectors = []prometheus.Collector{sinkFiles, sinkRows, sinkBytes, sinkDiscarded, sinkCommitSeconds}

// sinkMetrics are one task's series.
type sinkMetrics struct {
	files, rows, bytes, discarded prometheus.Counter
	commit                        prometheus.Observer
}

// newSinkMetrics registers the package's vectors with the task's registerer
// (a no-op when already registered, or when there is none) and returns the
// connector's series. A failure to register is logged, never fatal: metrics
// must not stop the data.
func newSinkMetrics(task connectors.TaskInfo, log *slog.Logger) *sinkMetrics {
	for _, c := range collectors {
		got, err := connectors.RegisterCollector(task.Metrics, c)
		if err == nil && got != c {
			err = errors.New("an equal collector from elsewhere is registered; these series will not be served")
		}
		if err != nil {
			log.Warn("parquet sink metrics", "err", err)
		}
	}
	l := prometheus.Labels{"connector": task.Connector}
	return &sinkMetrics{
		files:     sinkFiles.With(l),
		rows:      sinkRows.With(l),
		bytes:     sinkBytes.With(l),
		discarded: sinkDiscarded.With(l),
		commit:    sinkCommitSeconds.With(l),
	}
}
