package worker_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/worker"
)

// meteredRecords is a plugin's own metric, shared by its tasks as a
// third-party connector would do it.
var meteredRecords = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "test", Name: "metered_records_total", Help: "Records the metered sink took.",
}, []string{"connector"})

// meteredSink counts what it is given in its own Prometheus counter,
// registered with the registerer the worker hands it.
type meteredSink struct {
	task    connectors.TaskInfo
	records *prometheus.CounterVec
}

func (s *meteredSink) Open(_ context.Context, task connectors.TaskInfo, _ connectors.Config) error {
	if task.Metrics == nil {
		return errAssert("the worker gave the task no metrics registerer")
	}
	var err error
	s.task = task
	s.records, err = connectors.RegisterCollector(task.Metrics, meteredRecords)
	return err
}
func (s *meteredSink) Write(_ context.Context, batch []connectors.Record) error {
	s.records.WithLabelValues(s.task.Connector).Add(float64(len(batch)))
	return nil
}
func (s *meteredSink) Flush(_ context.Context, w connectors.Offsets) (connectors.Offsets, error) {
	return w, nil
}
func (s *meteredSink) Close(context.Context) error { return nil }

type errAssert string

func (e errAssert) Error() string { return string(e) }

func init() {
	connectors.Register(connectors.Plugin{Name: "test-metered-sink", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return &meteredSink{} }})
}

// scrape returns the worker's /metrics text.
func (tw *testWorker) scrape() string {
	tw.t.Helper()
	resp, err := http.Get(tw.srv.URL + "/metrics")
	if err != nil {
		tw.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tw.t.Fatalf("GET /metrics = %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestPluginMetricsServed: a connector's own metric, registered through
// TaskInfo.Metrics, is served on the worker's /metrics beside the worker's
// series, survives a task restart (registering again is fine), and goes
// away with the connector.
func TestPluginMetricsServed(t *testing.T) {
	b := startBroker(t)
	w := startWorker(t, b.Addr)
	produce(t, client(t, b.Addr), "metered", "a", "b", "c")
	w.create("meter", map[string]string{"connector.class": "test-metered-sink", "topics": "metered", "tasks.max": "2"})
	want := `test_metered_records_total{connector="meter"} 3`
	waitFor(t, want, func() bool { return strings.Contains(w.scrape(), want) })
	if text := w.scrape(); !strings.Contains(text, `sluice_connect_sink_records_read_total{connector="meter"`) {
		t.Fatalf("worker series missing beside the plugin's:\n%s", text)
	}

	// A restarted task registers the same vector again and keeps counting.
	w.mustCall("POST", "/connectors/meter/restart?includeTasks=true", nil, http.StatusAccepted)
	w.waitState("meter", worker.StateRunning)
	produce(t, client(t, b.Addr), "metered", "d")
	want = `test_metered_records_total{connector="meter"} 4`
	waitFor(t, want, func() bool { return strings.Contains(w.scrape(), want) })

	w.mustCall("DELETE", "/connectors/meter", nil, http.StatusNoContent)
	if text := w.scrape(); strings.Contains(text, `connector="meter"`) {
		t.Fatalf("series of the deleted connector still served:\n%s", text)
	}
}
