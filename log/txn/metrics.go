package txn

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	committed, aborted, timedOut, fenced prometheus.Counter
	markerErrors, logErrors              prometheus.Counter
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "txn", Name: name, Help: help})
	}
	return &metrics{
		committed:    c("committed_total", "Transactions committed (markers written to every partition)."),
		aborted:      c("aborted_total", "Transactions aborted, by their producer, on timeout or by fencing."),
		timedOut:     c("timed_out_total", "Transactions the coordinator aborted because they outlived their timeout."),
		fenced:       c("fenced_total", "Ongoing transactions aborted because a new producer initialized the same transactional id."),
		markerErrors: c("marker_errors_total", "Transaction markers that could not be written (retried)."),
		logErrors:    c("state_log_errors_total", "Failed writes to __transaction_state."),
	}
}

func (m *metrics) register(r prometheus.Registerer, c *Coordinator) {
	if r == nil {
		return
	}
	byState := func(s State) func() float64 {
		return func() float64 {
			n := 0
			for _, t := range c.snapshot() {
				t.view.RLock()
				if t.cur.state == s && t.cur.epoch != noEpoch {
					n++
				}
				t.view.RUnlock()
			}
			return float64(n)
		}
	}
	r.MustRegister(m.committed, m.aborted, m.timedOut, m.fenced, m.markerErrors, m.logErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "txn", Name: "ongoing",
			Help: "Transactions currently ongoing."}, byState(Ongoing)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "txn", Name: "transactional_ids",
			Help: "Transactional ids the coordinator tracks."}, func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return float64(len(c.txns))
		}),
	)
}
