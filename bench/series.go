package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Window is the latency of the records sent in one interval of a run: a
// periodic stall (a checkpoint, a GC, a timer) shows up as a spike every
// so many windows, which the whole-run percentiles cannot show.
type Window struct {
	Start float64 `json:"start_s"` // send time of the window's start, seconds since the run began
	Count int64   `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// seriesHighest bounds per-window histograms (10 s, clamped beyond):
// smaller than the run's histogram so hundreds of windows stay cheap.
const seriesHighest = int64(10 * time.Second / time.Microsecond)

// series buckets latencies by send time into fixed windows.
type series struct {
	start    time.Time
	interval time.Duration

	mu   sync.Mutex
	hist []*hdrhistogram.Histogram
}

func newSeries(start time.Time, interval time.Duration) *series {
	return &series{start: start, interval: interval}
}

// record adds the latency d of a record sent at sent.
func (s *series) record(sent time.Time, d time.Duration) {
	since := sent.Sub(s.start)
	if since < 0 {
		return
	}
	i := int(since / s.interval)
	us := min(max(d.Microseconds(), histLowest), seriesHighest)
	s.mu.Lock()
	for len(s.hist) <= i {
		s.hist = append(s.hist, nil)
	}
	h := s.hist[i]
	if h == nil {
		h = hdrhistogram.New(histLowest, seriesHighest, 2)
		s.hist[i] = h
	}
	_ = h.RecordValue(us) // in range: clamped above
	s.mu.Unlock()
}

// windows summarises every window, empty ones included.
func (s *series) windows() []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Window, len(s.hist))
	ms := func(us int64) float64 { return float64(us) / 1000 }
	for i, h := range s.hist {
		out[i].Start = (time.Duration(i) * s.interval).Seconds()
		if h == nil {
			continue
		}
		out[i].Count = h.TotalCount()
		out[i].P50 = ms(h.ValueAtQuantile(50))
		out[i].P99 = ms(h.ValueAtQuantile(99))
		out[i].Max = ms(h.Max())
	}
	return out
}

// WriteSeriesCSV writes the latency windows of every result that has them,
// one row per window: target, workload, start_s, count, p50_ms, p99_ms,
// max_ms.
func WriteSeriesCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"target", "workload", "start_s", "count", "p50_ms", "p99_ms", "max_ms"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, r := range results {
		wl := r.Workload
		if r.TargetRate > 0 {
			wl = fmt.Sprintf("%s@%d/s", wl, r.TargetRate)
		}
		for _, win := range r.Series {
			_ = cw.Write([]string{r.Target, wl, f(win.Start), strconv.FormatInt(win.Count, 10), f(win.P50), f(win.P99), f(win.Max)})
		}
	}
	cw.Flush()
	return cw.Error()
}
