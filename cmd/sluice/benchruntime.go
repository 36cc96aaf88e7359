package main

import (
	"fmt"
	"io"
	"math"
	"runtime/metrics"
)

// runtimeStats snapshots the benchmark process's scheduler-latency and
// GC-pause histograms, so a run can say how much of a latency tail is the
// client process waiting for a CPU or for its collector rather than the
// broker (whose own histograms are on its /metrics).
type runtimeStats struct{ samples []metrics.Sample }

func newRuntimeStats() *runtimeStats {
	s := &runtimeStats{samples: []metrics.Sample{
		{Name: "/sched/latencies:seconds"},
		{Name: "/gc/pauses:seconds"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}}
	metrics.Read(s.samples)
	return s
}

// report prints what happened since newRuntimeStats: percentiles of the
// time goroutines waited runnable and of GC stop-the-world pauses.
func (s *runtimeStats) report(w io.Writer) {
	now := make([]metrics.Sample, len(s.samples))
	for i := range now {
		now[i].Name = s.samples[i].Name
	}
	metrics.Read(now)
	for i, name := range []string{"scheduling latency", "GC pauses"} {
		h := diffHist(s.samples[i].Value.Float64Histogram(), now[i].Value.Float64Histogram())
		fmt.Fprintf(w, "client %s: %d samples, p50 %s p99 %s p999 %s max %s\n", name, h.total(),
			ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(h.quantile(0.999)), ms(h.quantile(1)))
	}
	fmt.Fprintf(w, "client GC cycles: %d\n", now[2].Value.Uint64()-s.samples[2].Value.Uint64())
}

type hist struct {
	counts  []uint64
	buckets []float64
}

func diffHist(a, b *metrics.Float64Histogram) hist {
	h := hist{counts: make([]uint64, len(b.Counts)), buckets: b.Buckets}
	for i := range b.Counts {
		h.counts[i] = b.Counts[i] - a.Counts[i]
	}
	return h
}

func (h hist) total() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h hist) quantile(q float64) float64 {
	n := h.total()
	if n == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want && c > 0 {
			return h.buckets[i+1]
		}
	}
	return h.buckets[len(h.buckets)-1]
}

func ms(sec float64) string {
	if math.IsInf(sec, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.3fms", sec*1e3)
}
