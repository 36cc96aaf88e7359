package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	cases := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"e2e default", func(c *Config) { c.Workload = E2E }, ""},
		{"duration instead of count", func(c *Config) { c.Count = 0; c.Duration = time.Second }, ""},
		{"unknown workload", func(c *Config) { c.Workload = "spin" }, `workload "spin"`},
		{"tiny record", func(c *Config) { c.RecordSize = 4 }, "--record-size 4"},
		{"no count or duration", func(c *Config) { c.Count = 0 }, "give --count or --duration"},
		{"zero partitions", func(c *Config) { c.Partitions = 0 }, "--partitions 0"},
		{"zero producers", func(c *Config) { c.Producers = 0 }, "--producers 0"},
		{"bad acks", func(c *Config) { c.Acks = "2" }, `--acks "2"`},
		{"bad compression", func(c *Config) { c.Compression = "brotli" }, `--compression "brotli"`},
		{"negative rate", func(c *Config) { c.Rate = -1 }, "--rate -1"},
		{"e2e bad fraction", func(c *Config) { c.Workload = E2E; c.RateFraction = 1.5 }, "--rate-fraction 1.5"},
		{"e2e acks 0", func(c *Config) { c.Workload = E2E; c.Acks = "0" }, "--acks 0 with e2e"},
		{"e2e produce peak", func(c *Config) { c.Workload = E2E; c.PeakFrom = PeakProduce }, ""},
		{"bad peak", func(c *Config) { c.PeakFrom = "consume" }, `--peak-from "consume"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestPerProducerSplitsExactly(t *testing.T) {
	for _, total := range []int64{0, 1, 7, 1000, 1_000_003} {
		for n := 1; n <= 5; n++ {
			var sum int64
			for i := 0; i < n; i++ {
				share := perProducer(total, n, i)
				if d := share - total/int64(n); d < 0 || d > 1 {
					t.Fatalf("total %d over %d: share %d is uneven", total, n, share)
				}
				sum += share
			}
			if sum != total {
				t.Fatalf("total %d over %d producers: shares sum to %d", total, n, sum)
			}
		}
	}
}

func TestPayloads(t *testing.T) {
	p := newPayloads(100)
	now := time.Unix(1700000000, 123456789)
	b := p.stamped(now)
	if len(b) != 100 {
		t.Fatalf("payload is %d bytes, want 100", len(b))
	}
	got, ok := sentAt(b)
	if !ok || !got.Equal(now) {
		t.Fatalf("sentAt = %v, %v; want %v", got, ok, now)
	}
	if string(b[8:]) != string(p.shared()[8:]) {
		t.Fatal("stamped payload body differs from the shared one")
	}
	if b2 := p.stamped(now.Add(time.Second)); &b2[0] == &b[0] {
		t.Fatal("stamped payloads share memory; an in-flight value would change")
	}
	// A released buffer is reused; the shared one is never handed out.
	p.release(b)
	p.release(p.shared())
	if b3 := p.stamped(now.Add(2 * time.Second)); &b3[0] != &b[0] {
		t.Fatal("a released payload was not reused")
	} else if got, _ := sentAt(b3); !got.Equal(now.Add(2 * time.Second)) {
		t.Fatalf("reused payload stamped %v", got)
	}
	if b4 := p.stamped(now); &b4[0] == &p.shared()[0] {
		t.Fatal("the shared payload was handed out for stamping")
	}
	for _, c := range p.shared() {
		if c < 'A' || c > 'Z' {
			t.Fatalf("shared payload byte %q is not a letter", c)
		}
	}
	if _, ok := sentAt([]byte{1, 2, 3}); ok {
		t.Fatal("sentAt accepted a 3-byte payload")
	}
}

func TestRecorderPercentiles(t *testing.T) {
	r := newRecorder()
	if r.summary() != nil {
		t.Fatal("empty recorder has a summary")
	}
	for i := 1; i <= 1000; i++ {
		r.record(time.Duration(i) * time.Millisecond)
	}
	r.record(-time.Second)  // clamped to the lowest value, not dropped
	r.record(2 * time.Hour) // clamped to the highest
	s := r.summary()
	if s.Count != 1002 {
		t.Fatalf("count %d, want 1002", s.Count)
	}
	near := func(name string, got, want float64) {
		if got < want*0.99 || got > want*1.01 {
			t.Errorf("%s = %.3f ms, want about %.3f", name, got, want)
		}
	}
	near("p50", s.P50, 500)
	near("p99", s.P99, 990)
	near("p999", s.P999, 999)
	near("max", s.Max, float64(time.Hour/time.Millisecond))
	if s.Min > 0.002 {
		t.Errorf("min = %.3f ms, want the 1 µs floor", s.Min)
	}
}

func TestPacerNeverRunsAhead(t *testing.T) {
	p := &pacer{perSec: 2000, start: time.Now()}
	const n = 40
	for i := 0; i < n; i++ {
		if _, err := p.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// The n-th send is due (n-1)/rate after the start; it must not be early.
	if min := time.Duration(n-1) * time.Second / 2000; time.Since(p.start) < min {
		t.Fatalf("%d sends at 2000/s took %v, less than %v", n, time.Since(p.start), min)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := &pacer{perSec: 0.5, start: time.Now(), n: 1}
	if _, err := slow.wait(ctx); err == nil {
		t.Fatal("wait on a cancelled context for a send due in 2s returned no error")
	}
}

func TestCompareAndText(t *testing.T) {
	results := []Result{
		{Target: "sluice", Workload: Produce, Records: 10, RecordsPerSec: 300, Latency: &Latency{P99: 1}},
		{Target: "jetstream", Workload: Produce, Records: 10, RecordsPerSec: 100, Latency: &Latency{P99: 4}},
		{Target: "sluice", Workload: E2E, TargetRate: 150, Latency: &Latency{P99: 0.5}},
		{Target: "jetstream", Workload: E2E, TargetRate: 50, Latency: &Latency{P99: 2}, Notes: []string{"hello"}},
	}
	cmp := Compare(results)
	if len(cmp) != 2 || !strings.Contains(cmp[0], "3.00x the records/s") || !strings.Contains(cmp[1], "p99 0.500 ms vs 2.000 ms") {
		t.Fatalf("Compare = %q", cmp)
	}
	var sb strings.Builder
	if err := WriteText(&sb, results); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"e2e@150/s", "3.00x", "note (jetstream e2e): hello"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, sb.String())
		}
	}
}
