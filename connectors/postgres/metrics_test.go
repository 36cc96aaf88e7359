package postgres

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// TestMetricsOnWorkerEndpoint: the sink's sluice_postgres_* series are
// served on the /metrics of the `sluice connect` process running it.
func TestMetricsOnWorkerEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve, sluice connect and PostgreSQL")
	}
	pg := startPG(t)
	broker := brokertest.Start(t)
	cl := kafkaClient(t, broker.Addr)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, -1, nil, "metered"); err != nil {
		t.Fatal(err)
	}
	produceRange(t, cl, "metered", 0, 5)
	proc := startConnect(t, broker.Addr, brokertest.FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	waitFor(t, ctx, func() bool { code, _ := proc.call("GET", "/connectors", nil); return code == http.StatusOK })
	code, body := proc.call("POST", "/connectors", map[string]any{"name": "pg-metrics", "config": map[string]string{
		"connector.class": SinkPluginName, "topics": "metered", "connection.url": pg.DSN(),
	}})
	if code != http.StatusCreated {
		t.Fatalf("create connector: %d %s", code, body)
	}
	var last string
	waitFor(t, ctx, func() bool {
		_, text := proc.call("GET", "/metrics", nil)
		last = text
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "sluice_postgres_sink_rows_total{") && strings.Contains(line, `connector="pg-metrics"`) &&
				strings.Contains(line, `table="metered"`) && strings.HasSuffix(line, " 5") {
				return true
			}
		}
		return false
	})
	if !strings.Contains(last, `sluice_connect_sink_records_put_total{connector="pg-metrics"`) {
		t.Fatalf("worker series missing beside the connector's:\n%s", last)
	}
}
