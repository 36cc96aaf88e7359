package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one workload run against one target measured.
type Result struct {
	Target        string   `json:"target"`
	Workload      string   `json:"workload"`
	Config        Config   `json:"config"`
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Errors        int64    `json:"errors"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"` // MB = 2^20 bytes, as kafka-producer-perf-test prints
	TargetRate    int      `json:"target_rate,omitempty"`
	Latency       *Latency `json:"latency,omitempty"`
	Notes         []string `json:"notes,omitempty"`
	// Series is latency over time (Config.SeriesInterval windows).
	Series []Window `json:"series,omitempty"`
}

// Latency summarises an HDR histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Histogram bounds: 1 µs resolution up to one hour, three significant
// digits (0.1% error), as is usual for HDR latency histograms.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histDigits  = 3
)

// recorder is an HDR histogram safe for the concurrent callbacks of client
// libraries (kgo promises, nats ack handlers).
type recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newRecorder() *recorder {
	return &recorder{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// record adds one latency; values out of range are clamped, never dropped.
func (r *recorder) record(d time.Duration) {
	us := min(max(d.Microseconds(), histLowest), histHighest)
	r.mu.Lock()
	_ = r.h.RecordValue(us) // cannot fail: us is within the histogram's range
	r.mu.Unlock()
}

func (r *recorder) summary() *Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &Latency{
		Count: r.h.TotalCount(),
		Min:   ms(r.h.Min()),
		Mean:  math.Round(r.h.Mean()) / 1000,
		P50:   ms(r.h.ValueAtQuantile(50)),
		P90:   ms(r.h.ValueAtQuantile(90)),
		P99:   ms(r.h.ValueAtQuantile(99)),
		P999:  ms(r.h.ValueAtQuantile(99.9)),
		Max:   ms(r.h.Max()),
	}
}

// finish fills the rates from the counters.
func (r *Result) finish(elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RecordsPerSec = float64(r.Records) / r.Seconds
		r.MBPerSec = float64(r.Bytes) / (1 << 20) / r.Seconds
	}
}

// WriteText prints results as an aligned table, then the ratio of the first
// target to every other one for each workload both ran.
func WriteText(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tworkload\trecords\tseconds\trecords/s\tMB/s\tp50 ms\tp99 ms\tp999 ms\tmax ms\t")
	for _, r := range results {
		wl := r.Workload
		if r.TargetRate > 0 {
			wl = fmt.Sprintf("%s@%d/s", wl, r.TargetRate)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t%.1f\t", r.Target, wl, r.Records, r.Seconds, r.RecordsPerSec, r.MBPerSec)
		if l := r.Latency; l != nil {
			fmt.Fprintf(tw, "%.3f\t%.3f\t%.3f\t%.3f\t\n", l.P50, l.P99, l.P999, l.Max)
		} else {
			fmt.Fprint(tw, "-\t-\t-\t-\t\n")
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, c := range Compare(results) {
		fmt.Fprintln(w, c)
	}
	for _, r := range results {
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note (%s %s): %s\n", r.Target, r.Workload, n)
		}
	}
	return nil
}

// Compare states, for each workload run against two targets, how the first
// target's throughput and tail latency compare to the second's.
func Compare(results []Result) []string {
	var out []string
	type key struct {
		wl    string
		rated bool
	}
	first := map[key]Result{}
	for _, r := range results {
		k := key{r.Workload, r.TargetRate > 0}
		a, ok := first[k]
		if !ok {
			first[k] = r
			continue
		}
		if a.Target == r.Target {
			continue
		}
		var parts []string
		if !k.rated && r.RecordsPerSec > 0 {
			parts = append(parts, fmt.Sprintf("%.2fx the records/s", a.RecordsPerSec/r.RecordsPerSec))
		}
		if a.Latency != nil && r.Latency != nil && a.Latency.P99 > 0 {
			parts = append(parts, fmt.Sprintf("p99 %.3f ms vs %.3f ms", a.Latency.P99, r.Latency.P99))
		}
		if len(parts) > 0 {
			out = append(out, fmt.Sprintf("%s vs %s, %s: %s", a.Target, r.Target, k.wl, strings.Join(parts, ", ")))
		}
	}
	return out
}
