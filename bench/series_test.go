package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSeriesBucketsBySendTime(t *testing.T) {
	start := time.Unix(1700000000, 0)
	s := newSeries(start, 100*time.Millisecond)
	s.record(start.Add(10*time.Millisecond), time.Millisecond)
	s.record(start.Add(20*time.Millisecond), 3*time.Millisecond)
	// Nothing sent in the second window; a stall in the third.
	s.record(start.Add(250*time.Millisecond), 40*time.Millisecond)
	s.record(start.Add(-time.Millisecond), time.Hour) // before the start: ignored
	s.record(start.Add(260*time.Millisecond), time.Hour)
	w := s.windows()
	if len(w) != 3 {
		t.Fatalf("%d windows, want 3: %+v", len(w), w)
	}
	if w[0].Count != 2 || w[0].Max < 2.9 || w[0].Max > 3.1 || w[0].Start != 0 {
		t.Errorf("first window %+v, want 2 records, max 3 ms", w[0])
	}
	if w[1].Count != 0 || w[1].Start != 0.1 {
		t.Errorf("second window %+v, want empty at 0.1 s", w[1])
	}
	if w[2].Count != 2 || w[2].Max < 9.9e3 || w[2].Max > 10.1e3 {
		t.Errorf("third window %+v, want 2 records, an hour clamped to 10 s", w[2])
	}

	var buf bytes.Buffer
	r := Result{Target: "sluice", Workload: E2E, TargetRate: 1000, Series: w}
	if err := WriteSeriesCSV(&buf, []Result{r, {Target: "jetstream", Workload: E2E}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || lines[0] != "target,workload,start_s,count,p50_ms,p99_ms,max_ms" ||
		!strings.HasPrefix(lines[3], "sluice,e2e@1000/s,0.200,2,") {
		t.Fatalf("csv:\n%s", buf.String())
	}
}
