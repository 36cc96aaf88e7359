package engine

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus metrics, labelled by application and
// task so a dashboard can show where work and lag are.
type metrics struct {
	recordsIn       *prometheus.CounterVec
	recordsOut      *prometheus.CounterVec
	lateDropped     *prometheus.CounterVec
	streamTime      *prometheus.GaugeVec
	badRecords      *prometheus.CounterVec
	lag             *prometheus.GaugeVec
	restoreTotal    *prometheus.GaugeVec
	restoreDone     *prometheus.GaugeVec
	tasks           prometheus.Gauge
	commits         prometheus.Counter
	commitSeconds   prometheus.Histogram
	rebalances      prometheus.Counter
	txnAborts       prometheus.Counter
	restoredRecords *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, app string) *metrics {
	cl := prometheus.Labels{"app": app}
	m := &metrics{
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "records_in_total",
			Help: "Input records processed, per task.", ConstLabels: cl}, []string{"task"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "records_out_total",
			Help: "Records written to output and repartition topics, per task.", ConstLabels: cl}, []string{"task"}),
		lateDropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "late_records_dropped_total",
			Help: "Records dropped because their window had closed, per task.", ConstLabels: cl}, []string{"task"}),
		streamTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "engine", Name: "stream_time_seconds",
			Help: "Stream time (largest record timestamp processed) per task, as Unix seconds: how far in event time the task has got.", ConstLabels: cl}, []string{"task"}),
		badRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "bad_records_total",
			Help: "Input records that could not be decoded, per topic.", ConstLabels: cl}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "engine", Name: "consumer_lag_records",
			Help: "High watermark minus the next offset to process, per input partition.", ConstLabels: cl}, []string{"task", "topic", "partition"}),
		restoreTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "engine", Name: "restore_total_records",
			Help: "Changelog records to restore for the current restoration, per task and store.", ConstLabels: cl}, []string{"task", "store"}),
		restoreDone: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "engine", Name: "restore_done_records",
			Help: "Changelog records restored so far in the current restoration, per task and store.", ConstLabels: cl}, []string{"task", "store"}),
		restoredRecords: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "restored_records_total",
			Help: "Changelog records applied while restoring, per store.", ConstLabels: cl}, []string{"store"}),
		tasks: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "engine", Name: "assigned_tasks",
			Help: "Tasks assigned to this instance.", ConstLabels: cl}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "commits_total",
			Help: "Completed commits (flush stores, changelogs, outputs, then offsets).", ConstLabels: cl}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "engine", Name: "commit_seconds",
			Help: "Time to commit.", ConstLabels: cl, Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "rebalances_total",
			Help: "Task assignments received.", ConstLabels: cl}),
		txnAborts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "engine", Name: "transactions_aborted_total",
			Help: "Exactly-once transactions aborted (the tasks then restart from the last commit).", ConstLabels: cl}),
	}
	if reg != nil {
		m.recordsIn = register(reg, m.recordsIn)
		m.recordsOut = register(reg, m.recordsOut)
		m.lateDropped = register(reg, m.lateDropped)
		m.streamTime = register(reg, m.streamTime)
		m.badRecords = register(reg, m.badRecords)
		m.lag = register(reg, m.lag)
		m.restoreTotal = register(reg, m.restoreTotal)
		m.restoreDone = register(reg, m.restoreDone)
		m.restoredRecords = register(reg, m.restoredRecords)
		m.tasks = register(reg, m.tasks)
		m.commits = register(reg, m.commits)
		m.commitSeconds = register(reg, m.commitSeconds)
		m.rebalances = register(reg, m.rebalances)
		m.txnAborts = register(reg, m.txnAborts)
	}
	return m
}

// register registers c, or returns the collector already registered under
// the same name (two App instances of one application in one process).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
