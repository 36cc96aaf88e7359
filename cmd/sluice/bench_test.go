package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/bench"
)

// benchOutput is what `sluice bench --json` prints.
type benchOutput struct {
	Results    []bench.Result `json:"results"`
	Comparison []string       `json:"comparison"`
}

func TestBenchCommand(t *testing.T) {
	c, _ := newCLI(t)
	var out benchOutput
	raw := c.ok("", "bench", "produce", "--count", "3000", "--partitions", "2", "--producers", "2", "--json",
		"--target", "both", "--jetstream-max-pending", "1000")
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("bench --json printed %q: %v", raw, err)
	}
	if len(out.Results) != 2 || out.Results[0].Target != "sluice" || out.Results[1].Target != "jetstream" {
		t.Fatalf("results %+v, want sluice then jetstream", out.Results)
	}
	for _, r := range out.Results {
		if r.Records != 3000 || r.Errors != 0 || r.Latency == nil || r.Latency.Count != 3000 || r.RecordsPerSec <= 0 {
			t.Errorf("%s: %+v", r.Target, r)
		}
	}
	if len(out.Comparison) != 1 || !strings.Contains(out.Comparison[0], "sluice vs jetstream, produce") {
		t.Errorf("comparison %q", out.Comparison)
	}

	// e2e without --rate: a peak run, then a run at half of it; text output.
	text := c.ok("", "bench", "e2e", "--count", "2000", "--warmup", "0")
	for _, want := range []string{"records/s", "p99 ms", "produce", "e2e@"} {
		if !strings.Contains(text, want) {
			t.Errorf("bench e2e output lacks %q:\n%s", want, text)
		}
	}

	c.fails("--record-size 4: must be at least 8", "bench", "produce", "--record-size", "4")
	c.fails(`--target "redis"`, "bench", "produce", "--target", "redis")
}
