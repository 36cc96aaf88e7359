package worker

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus series, labelled by connector and task.
type metrics struct {
	sourcePolled   *prometheus.CounterVec
	sourceWritten  *prometheus.CounterVec
	sinkRead       *prometheus.CounterVec
	sinkPut        *prometheus.CounterVec
	skipped        *prometheus.CounterVec
	deadLettered   *prometheus.CounterVec
	retries        *prometheus.CounterVec
	commits        *prometheus.CounterVec
	transactions   *prometheus.CounterVec
	batchSeconds   *prometheus.HistogramVec
	taskState      *prometheus.GaugeVec
	connectorCount prometheus.Gauge
	// plugins is the registerer tasks get in TaskInfo.Metrics.
	plugins *pluginMetrics
}

var taskLabels = []string{"connector", "task"}

// register registers c, or returns the collector already registered under
// the same name (two workers in one process share series instead of
// panicking).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		// A conflicting, different collector: keep ours unregistered
		// rather than fail the worker over metrics.
	}
	return c
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "connect", Name: name, Help: help}, labels))
	}
	m := &metrics{
		plugins:       newPluginMetrics(reg),
		sourcePolled:  f("source_records_polled_total", "Records returned by source tasks' Poll.", taskLabels...),
		sourceWritten: f("source_records_written_total", "Source records acknowledged by the log.", taskLabels...),
		sinkRead:      f("sink_records_read_total", "Records consumed by sink tasks.", taskLabels...),
		sinkPut:       f("sink_records_put_total", "Records accepted by sinks' Write.", taskLabels...),
		skipped:       f("records_skipped_total", "Records skipped under errors.tolerance=all.", taskLabels...),
		deadLettered:  f("records_dead_lettered_total", "Records written to the dead-letter topic.", taskLabels...),
		retries:       f("retries_total", "Retries of retriable failures.", taskLabels...),
		commits:       f("offset_commits_total", "Offset commits (sink: consumer group; source: positions), by result.", "connector", "task", "result"),
		transactions: f("source_transactions_total", "Transactions of exactly-once source tasks, by result: committed, aborted (by the source, or after an error: the task restarts from its committed positions), fenced (a newer instance of the task took over).",
			"connector", "task", "result"),
		batchSeconds: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "sluice", Subsystem: "connect", Name: "batch_seconds",
			Help:    "Time to deliver one batch: sink Write, or source produce plus position store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"connector", "kind"})),
		taskState: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "connect", Name: "task_state",
			Help: "1 for the state each task is in."}, []string{"connector", "task", "state"})),
		connectorCount: register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "connect", Name: "connectors",
			Help: "Connectors configured."})),
	}
	return m
}

func (m *metrics) setTaskState(connector string, task int, state string) {
	id := strconv.Itoa(task)
	for _, s := range []string{StateUnassigned, StateRunning, StatePaused, StateFailed, StateRestarting} {
		v := 0.0
		if s == state {
			v = 1
		}
		m.taskState.WithLabelValues(connector, id, s).Set(v)
	}
}

// forget drops every series of a deleted connector.
func (m *metrics) forget(connector string) {
	l := prometheus.Labels{"connector": connector}
	for _, c := range []*prometheus.CounterVec{m.sourcePolled, m.sourceWritten, m.sinkRead, m.sinkPut, m.skipped, m.deadLettered, m.retries, m.commits, m.transactions} {
		c.DeletePartialMatch(l)
	}
	m.batchSeconds.DeletePartialMatch(l)
	m.taskState.DeletePartialMatch(l)
	m.plugins.forget(connector)
}
