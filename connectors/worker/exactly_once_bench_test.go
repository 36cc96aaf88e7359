package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// BenchmarkSourceExactlyOnce: file-source (format=text, tailing) → topic
// at-least-once and exactly-once (transaction per poll, and per 200ms
// interval), in the same run against the same broker:
//
//	go test -run '^$' -bench SourceExactlyOnce -benchtime 3x ./connectors/worker
//
// Each iteration pauses the connector, appends benchRecords lines (untimed)
// and times from resume until the worker counts them all written
// (sluice_connect_source_records_written_total): acknowledged by the log
// at-least-once, committed with their positions exactly-once.
func BenchmarkSourceExactlyOnce(b *testing.B) {
	br := brokertest.Start(b)
	dir := b.TempDir()
	values := benchValues()
	data := make([]byte, 0, benchBytes(values))
	for _, v := range values {
		data = append(append(data, v...), '\n')
	}
	for _, c := range []struct {
		name string
		mode worker.ExactlyOnceMode
		cfg  map[string]string
	}{
		{"at-least-once", worker.ExactlyOnceDisabled, nil},
		{"exactly-once-poll", worker.ExactlyOnceEnabled, nil},
		{"exactly-once-interval", worker.ExactlyOnceEnabled, map[string]string{"transaction.boundary": "interval"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			topic := benchName("bench-eos")
			in := filepath.Join(dir, topic+".txt")
			writeLines(b, in, []string{"warm"})
			tw := startWorkerWith(b, br.Addr, "bench-"+topic, nil, func(cfg *worker.Config) {
				cfg.ExactlyOnceSourceSupport = c.mode
				cfg.Registerer = reg
				// Internal topics of its own: no worker runs another's
				// connectors.
				cfg.ConfigTopic, cfg.OffsetTopic, cfg.StatusTopic = topic+"-configs", topic+"-offsets", topic+"-status"
			})
			cfg := map[string]string{"connector.class": "file-source", "file": in, "topic": topic, "tail": "true", "format": "text"}
			for k, v := range c.cfg {
				cfg[k] = v
			}
			tw.create(topic, cfg)
			want := 1.0
			waitWritten(b, reg, topic, want)
			m := startMeter(b)
			for i := 0; i < b.N; i++ {
				m.stop()
				tw.pause(topic)
				appendFile(b, in, data)
				want += float64(len(values))
				m.start()
				if err := tw.w.Resume(context.Background(), topic); err != nil {
					b.Fatal(err)
				}
				waitWritten(b, reg, topic, want)
			}
			m.report(len(values))
			_ = os.Remove(in)
		})
	}
}

// waitWritten waits, polling finely, until the worker has written n
// records of connector.
func waitWritten(b testing.TB, reg *prometheus.Registry, connector string, n float64) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if written(b, reg, connector) >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %v records written by %s (have %v)", n, connector, written(b, reg, connector))
		}
		time.Sleep(time.Millisecond)
	}
}

func written(b testing.TB, reg *prometheus.Registry, connector string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "sluice_connect_source_records_written_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "connector" && l.GetValue() == connector {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
