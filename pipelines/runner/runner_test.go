package runner_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/pipelines/runner/runnertest"
)

// TestConnectorSourceToConnectorSink runs a pipeline whose source and sink
// are connectors (a JSON lines file in, another out) against a real
// broker: the connectors run in the runner's own connect worker, with the
// pipeline between their topics.
func TestConnectorSourceToConnectorSink(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve")
	}
	b := brokertest.Start(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	var lines []string
	for i := 1; i <= 200; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":%d,"level":"%s"}`, i, []string{"info", "warn", "error"}[i%3]))
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "errors.jsonl")
	pipeline := `
name: errors-only
sources:
  logs:
    connector: file
    config: {file: "${IN}"}
steps:
  - filter: level == "error"
  - map: {id: id, level: level}
to: out
sinks:
  out:
    connector: file
    config: {file: "${OUT}"}
`
	run := runnertest.Start(t, []string{b.Addr}, map[string][]byte{"p.yaml": []byte(pipeline)}, map[string]string{"IN": in, "OUT": out})
	deadline := time.Now().Add(2 * time.Minute)
	var got string
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile(out)
		got = string(data)
		if strings.Count(got, "\n") >= 66 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	run.WaitSettled(time.Minute)
	run.Stop()
	data, _ := os.ReadFile(out)
	got = string(data)
	var want []string
	for i := 1; i <= 200; i++ {
		if i%3 == 2 {
			want = append(want, fmt.Sprintf(`{"id":%d,"level":"error"}`, i))
		}
	}
	if got != strings.Join(want, "\n")+"\n" {
		t.Errorf("errors.jsonl:\n%s\nwant %d lines like %s", got, len(want), want[0])
	}
}
