package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
)

// TestWorkerSettingsExactlyOnce: the worker settings file takes Kafka
// Connect's exactly-once keys and names the bad ones.
func TestWorkerSettingsExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "worker.properties")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var cfg worker.Config
	rest := ""
	p := write("exactly.once.source.support=enabled\ngroup.id=etl\ntransaction.timeout.ms=30000\n")
	if err := workerSettings(p, &cfg, &rest); err != nil {
		t.Fatal(err)
	}
	if cfg.ExactlyOnceSourceSupport != worker.ExactlyOnceEnabled || cfg.GroupID != "etl" || cfg.TransactionTimeout != 30*time.Second {
		t.Fatalf("parsed %+v", cfg)
	}
	for body, want := range map[string]string{
		"exactly.once.source.support=on\n": `exactly.once.source.support: invalid worker config`,
		"transaction.timeout.ms=0\n":       "transaction.timeout.ms: must be between 1 and 900000",
		"transaction.timeout.ms=1h\n":      "transaction.timeout.ms: not a number of milliseconds",
	} {
		err := workerSettings(write(body), &worker.Config{}, &rest)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", body, err, want)
		}
	}
}
