package broker

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the broker's Prometheus metrics, on a registry of its own so
// that several brokers (in tests) do not collide.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.HistogramVec
	byKey         map[int16]prometheus.Observer
	connsOpened   prometheus.Counter
	connsRejected prometheus.Counter
	badRequests   prometheus.Counter
	bytesIn       prometheus.Counter
	bytesOut      prometheus.Counter
	producedBytes prometheus.Counter
	producedRecs  prometheus.Counter
	produceErrors prometheus.Counter
	fetchedBytes  prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sluice_broker_request_duration_seconds",
			Help:    "Time to handle a request (excluding queueing for the connection's write order), by API.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 4, 10),
		}, []string{"api"}),
		byKey:         make(map[int16]prometheus.Observer),
		connsOpened:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_connections_opened_total", Help: "Client connections accepted."}),
		connsRejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_connections_rejected_total", Help: "Connections refused because of max connections."}),
		badRequests:   prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_bad_requests_total", Help: "Connections closed for a malformed, oversized or unsupported request."}),
		bytesIn:       prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_received_bytes_total", Help: "Request bytes received."}),
		bytesOut:      prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_sent_bytes_total", Help: "Response bytes sent."}),
		producedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_produced_bytes_total", Help: "Record batch bytes appended by Produce."}),
		producedRecs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_produced_records_total", Help: "Records appended by Produce."}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_produce_errors_total", Help: "Partition appends refused by Produce."}),
		fetchedBytes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_broker_fetched_bytes_total", Help: "Record batch bytes served by Fetch."}),
	}
	m.reg.MustRegister(m.requests, m.connsOpened, m.connsRejected, m.badRequests, m.bytesIn, m.bytesOut,
		m.producedBytes, m.producedRecs, m.produceErrors, m.fetchedBytes,
		// Scheduler and GC latency histograms tell an operator whether a
		// latency tail is the broker's CPU starvation or its GC.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler, collectors.MetricsGC)), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, a := range apis {
		m.byKey[a.key] = m.requests.WithLabelValues(kmsg.NameForKey(a.key))
	}
	return m
}

func (m *metrics) registerGauges(b *Broker) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_broker_connections", Help: "Open client connections."},
			func() float64 { return float64(b.nconns.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_broker_topics", Help: "Topics, internal ones included."},
			func() float64 { return float64(len(b.topics.list())) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sluice_broker_fetch_sessions", Help: "Cached incremental fetch sessions."},
			func() float64 { return float64(b.sessions.len()) }),
	)
}

func (m *metrics) observe(key int16, d time.Duration) {
	if o := m.byKey[key]; o != nil {
		o.Observe(d.Seconds())
	}
}
