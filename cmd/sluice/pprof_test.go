package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/brokertest"
)

func TestServePprofListen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice serve")
	}
	addr := brokertest.FreePort(t)
	brokertest.Start(t, "--pprof-listen", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET /debug/pprof/: %s\n%s", resp.Status, body)
	}
}
