package bench

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// smallConfig is a run small enough for a unit test.
func smallConfig(workload string) Config {
	c := DefaultConfig()
	c.Workload = workload
	c.Count = 3000
	c.Partitions = 3
	c.Producers = 2
	c.Warmup = 0
	c.DrainTimeout = 20 * time.Second
	if workload == E2E {
		c.Rate = 6000
	}
	return c
}

// checkRun runs every workload against t and checks the bookkeeping: every
// record acknowledged (and for consume and e2e, received), latencies present.
func checkRun(t *testing.T, target Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, wl := range []string{Produce, Consume, E2E} {
		cfg := smallConfig(wl)
		rs, err := Run(ctx, target, cfg)
		if err != nil {
			t.Fatalf("%s: %v", wl, err)
		}
		if len(rs) != 1 {
			t.Fatalf("%s: %d results, want 1", wl, len(rs))
		}
		r := rs[0]
		if r.Target != target.Name() || r.Workload != wl {
			t.Errorf("%s: labelled %s/%s", wl, r.Target, r.Workload)
		}
		if r.Records != cfg.Count || r.Errors != 0 || r.Bytes != cfg.Count*int64(cfg.RecordSize) {
			t.Errorf("%s: records %d bytes %d errors %d; want %d records of %d bytes", wl, r.Records, r.Bytes, r.Errors, cfg.Count, cfg.RecordSize)
		}
		if r.RecordsPerSec <= 0 {
			t.Errorf("%s: no throughput computed", wl)
		}
		if wl != Consume && (r.Latency == nil || r.Latency.Count != cfg.Count) {
			t.Errorf("%s: latency %+v, want %d samples", wl, r.Latency, cfg.Count)
		}
	}
}

func TestJetStreamTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server")
	}
	s, err := StartNATSServer("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	checkRun(t, NewJetStreamTarget(s.URL(), DefaultJetStreamOptions()))

	// Teardown removed every stream the runs created.
	nc, err := nats.Connect(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	names := js.StreamNames(context.Background())
	for n := range names.Name() {
		t.Errorf("stream %s left behind", n)
	}
}

func TestE2EWithoutRateMeasuresPeakFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded nats-server")
	}
	s, err := StartNATSServer("127.0.0.1:0", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	target := NewJetStreamTarget(s.URL(), DefaultJetStreamOptions())
	for _, peakFrom := range []string{PeakE2E, PeakProduce} {
		t.Run(peakFrom, func(t *testing.T) {
			cfg := smallConfig(E2E)
			cfg.Rate = 0
			cfg.PeakFrom = peakFrom
			rs, err := Run(context.Background(), target, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 2 || rs[0].Workload != peakFrom || rs[0].TargetRate != 0 || rs[1].Workload != E2E {
				t.Fatalf("results %+v, want a %s peak then e2e", rs, peakFrom)
			}
			if want := int(rs[0].RecordsPerSec * cfg.RateFraction); rs[1].TargetRate != max(1, want) {
				t.Fatalf("e2e ran at %d/s, want half of peak %.0f", rs[1].TargetRate, rs[0].RecordsPerSec)
			}
			if rs[1].Records != cfg.Count {
				t.Fatalf("e2e at half of peak: %d records, want %d", rs[1].Records, cfg.Count)
			}
			// The e2e peak counts what the consumer received while the
			// producer ran: never more than was sent.
			if p := rs[0]; p.Records <= 0 || p.Records > cfg.Count || p.Latency == nil {
				t.Fatalf("peak %+v: want 1..%d records received, with latencies", p, cfg.Count)
			}
		})
	}
}

// kafkaSeeds is a real `sluice serve`, or $SLUICE_BENCH_BROKERS to test the
// harness against another Kafka-protocol cluster.
func kafkaSeeds(t *testing.T) string {
	if b := os.Getenv("SLUICE_BENCH_BROKERS"); b != "" {
		return b
	}
	return brokertest.Start(t).Addr
}

func TestKafkaTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sluice broker")
	}
	seeds := kafkaSeeds(t)
	target := NewKafkaTarget("sluice", kgo.SeedBrokers(strings.Split(seeds, ",")...))
	checkRun(t, target)

	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(seeds, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name := range topics {
		if strings.HasPrefix(name, "sluice-bench-") {
			t.Errorf("topic %s left behind", name)
		}
	}
}
