package worker_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// TestServeEmbedsWorker: `sluice serve --connect-rest-listen` runs the
// worker inside the broker process; connectors survive a broker restart.
func TestServeEmbedsWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve")
	}
	rest := brokertest.FreePort(t)
	b := brokertest.Start(t, "--connect-rest-listen", rest)
	tw := &testWorker{t: t, srv: nil}
	url := "http://" + rest
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	cl := client(t, b.Addr)
	produce(t, cl, "in", `{"a":1}`)
	waitFor(t, "embedded REST", func() bool {
		resp, err := http.Get(url + "/connectors")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	tw.base = url
	tw.create("dst", map[string]string{"connector.class": "file-sink", "file": out, "topics": "in"})
	waitFileLines(t, out, 1)

	b.Restart()
	waitFor(t, "embedded REST after restart", func() bool {
		resp, err := http.Get(url + "/connectors")
		if err != nil {
			return false // the REST listener starts just after the broker's
		}
		resp.Body.Close()
		var st worker.ConnectorStatus
		return tw.call("GET", "/connectors/dst/status", nil, &st) == 200 && len(st.Tasks) == 1 && st.Tasks[0].State == worker.StateRunning
	})
	produce(t, cl, "in", `{"a":2}`)
	if got := waitFileLines(t, out, 2); got[1] != `{"a":2}` {
		t.Fatalf("output %q", got)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
