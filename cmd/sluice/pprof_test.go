package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/brokertest"
)

func TestServePprofListen(t *testing.T) {
	if testing.Short() {
		t.Skip("runs sluice serve")
	}
	addr := brokertest.FreePort(t)
	brokertest.Start(t, "--pprof-listen", addr)
	// The extension starts once the broker listens; give it a moment.
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err = http.Get("http://" + addr + "/debug/pprof/"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("GET /debug/pprof/: %s\n%s", resp.Status, body)
	}
}
