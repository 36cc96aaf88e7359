package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// Benchmarks of the worker against a real broker (a `sluice serve`
// process), each beside the raw franz-go client doing the same I/O, in the
// same run:
//
//	go test -run '^$' -bench . -benchtime 3x ./connectors/worker
//
// They measure steady-state throughput: the broker, the worker, the
// connector (default settings) and its consumer group, or the raw client
// and its group, are set up and warm before the timer runs. Each iteration
// pauses the connector, puts benchRecords JSON lines in front of it
// (untimed), then times from resume until they are through:
//
//   - sink: topic → file-sink, until the file holds every record. The sink
//     fsyncs and commits every flush interval (200ms here) while it runs;
//     the last flush, which only makes the tail durable, is latency rather
//     than throughput and is not waited for. The raw client polls, appends
//     to a buffered file, fsyncs once and commits.
//   - source: file-source (tailing a file) → topic, until the log has
//     acknowledged every record (acks=all); source positions are stored
//     behind it. The raw client scans the file and produces every line
//     asynchronously, then flushes.
//
// "connector" uses format=json, which validates every value (the raw client
// does not); "connector-text" moves the lines as they are, as the raw
// client does. Reported: records/s over the timed part of all iterations,
// and cpu-ns/record, the CPU time this process (worker or raw client, not
// the broker) spent per record, which is steadier than records/s on a busy
// machine.

const benchRecords = 200000

func benchValues() [][]byte {
	ls := lines(benchRecords, 0)
	out := make([][]byte, len(ls))
	for i, l := range ls {
		out[i] = []byte(l)
	}
	return out
}

func benchBytes(values [][]byte) int64 {
	var n int64
	for _, v := range values {
		n += int64(len(v)) + 1
	}
	return n
}

// BenchmarkSinkFile: topic → file-sink connector versus a kgo consumer
// group member appending the values to a file.
func BenchmarkSinkFile(b *testing.B) {
	br := brokertest.Start(b)
	prod := client(b, br.Addr, kgo.ProducerLinger(5*time.Millisecond))
	values := benchValues()
	fill := func(b *testing.B, topic string) {
		recs := make([]*kgo.Record, len(values))
		for i, v := range values {
			recs[i] = &kgo.Record{Topic: topic, Value: v}
		}
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()

	b.Run("raw-kgo", func(b *testing.B) {
		topic := benchName("bench-sink-raw")
		createTopic(b, prod, topic, 1)
		produce(b, prod, topic, `{"warm":true}`)
		cl := client(b, br.Addr, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(topic), kgo.DisableAutoCommit(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		f, err := os.Create(filepath.Join(dir, topic))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<20)
		consume := func(n int) {
			for got := 0; got < n; {
				fs := cl.PollRecords(context.Background(), 5000)
				fs.EachRecord(func(r *kgo.Record) {
					w.Write(r.Value)
					w.WriteByte('\n')
					got++
				})
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			if err := cl.CommitUncommittedOffsets(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		consume(1) // joins the group
		m := startMeter(b)
		for i := 0; i < b.N; i++ {
			m.stop()
			fill(b, topic)
			m.start()
			consume(len(values))
		}
		m.report(len(values))
	})
	for _, format := range []string{"json", "text"} {
		b.Run(connectorBench(format), func(b *testing.B) {
			benchSinkConnector(b, br.Addr, dir, format, values, fill)
		})
	}
}

// connectorBench names a connector sub-benchmark by the file format: the
// default (json) validates every value; text does no more than the raw
// client does.
func connectorBench(format string) string {
	if format == "json" {
		return "connector"
	}
	return "connector-" + format
}

func benchSinkConnector(b *testing.B, addr, dir, format string, values [][]byte, fill func(*testing.B, string)) {
	topic := benchName("bench-sink-conn")
	produce(b, client(b, addr), topic, `{"warm":true}`)
	tw := startWorker(b, addr)
	out := filepath.Join(dir, topic)
	tw.create(topic, map[string]string{"connector.class": "file-sink", "file": out, "topics": topic, "format": format})
	want := int64(len(`{"warm":true}`) + 1)
	waitSize(b, out, want)
	m := startMeter(b)
	for i := 0; i < b.N; i++ {
		m.stop()
		tw.pause(topic)
		fill(b, topic)
		want += benchBytes(values)
		m.start()
		if err := tw.w.Resume(context.Background(), topic); err != nil {
			b.Fatal(err)
		}
		waitSize(b, out, want)
	}
	m.report(len(values))
}

// BenchmarkSourceFile: file-source connector → topic versus a kgo producer
// sending the lines of the file.
func BenchmarkSourceFile(b *testing.B) {
	br := brokertest.Start(b)
	adm := client(b, br.Addr)
	dir := b.TempDir()
	values := benchValues()
	data := make([]byte, 0, benchBytes(values))
	for _, v := range values {
		data = append(append(data, v...), '\n')
	}

	b.Run("raw-kgo", func(b *testing.B) {
		topic := benchName("bench-src-raw")
		createTopic(b, adm, topic, 1)
		in := filepath.Join(dir, topic+".jsonl")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			b.Fatal(err)
		}
		p := client(b, br.Addr, kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic(topic))
		produce(b, p, topic, `{"warm":true}`)
		m := startMeter(b)
		for i := 0; i < b.N; i++ {
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				p.Produce(context.Background(), &kgo.Record{Value: append([]byte(nil), sc.Bytes()...)}, nil)
			}
			f.Close()
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		m.report(len(values))
	})
	for _, format := range []string{"json", "text"} {
		b.Run(connectorBench(format), func(b *testing.B) {
			benchSourceConnector(b, br.Addr, dir, format, data, len(values))
		})
	}
}

func benchSourceConnector(b *testing.B, addr, dir, format string, data []byte, n int) {
	adm := client(b, addr)
	topic := benchName("bench-src-conn")
	createTopic(b, adm, topic, 1)
	in := filepath.Join(dir, topic+".jsonl")
	writeLines(b, in, []string{`{"warm":true}`})
	tw := startWorker(b, addr)
	tw.create(topic, map[string]string{"connector.class": "file-source", "file": in, "topic": topic,
		"tail": "true", "format": format})
	want := int64(1)
	waitEndOffset(b, adm, topic, want)
	m := startMeter(b)
	for i := 0; i < b.N; i++ {
		m.stop()
		tw.pause(topic)
		appendFile(b, in, data)
		want += int64(n)
		m.start()
		if err := tw.w.Resume(context.Background(), topic); err != nil {
			b.Fatal(err)
		}
		waitEndOffset(b, adm, topic, want)
	}
	m.report(n)
}

var benchSeq atomic.Int64

// benchName returns a topic and connector name not used before in this
// process (benchmarks run several times, with -count too).
func benchName(prefix string) string { return fmt.Sprintf("%s-%d", prefix, benchSeq.Add(1)) }

// meter is the benchmark timer plus the CPU time this process (worker or
// raw client; the broker is another process) spends in the timed parts.
// CPU per record is steadier than records/s on a busy machine.
type meter struct {
	b   *testing.B
	cpu time.Duration
	at  time.Duration
}

// startMeter resets the timer and starts measuring.
func startMeter(b *testing.B) *meter {
	m := &meter{b: b}
	b.ResetTimer()
	m.at = cpuTime(b)
	return m
}

func (m *meter) start() {
	m.b.StartTimer()
	m.at = cpuTime(m.b)
}

func (m *meter) stop() {
	m.cpu += cpuTime(m.b) - m.at
	m.b.StopTimer()
}

// report stops the meter and reports records/s and CPU ns/record over the
// timed parts of all iterations, perOp records each.
func (m *meter) report(perOp int) {
	m.stop()
	n := float64(perOp * m.b.N)
	m.b.ReportMetric(n/m.b.Elapsed().Seconds(), "records/s")
	m.b.ReportMetric(float64(m.cpu.Nanoseconds())/n, "cpu-ns/record")
}

func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pause pauses a connector and waits until its tasks have delivered what
// they had and stopped.
func (tw *testWorker) pause(name string) {
	tw.t.Helper()
	if err := tw.w.Pause(context.Background(), name); err != nil {
		tw.t.Fatal(err)
	}
	tw.waitState(name, worker.StatePaused)
}

func appendFile(b testing.TB, path string, data []byte) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
}

// waitSize waits, polling finely, until path is n bytes long.
func waitSize(b testing.TB, path string, n int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Size() >= n {
			if fi.Size() > n {
				b.Fatalf("%s has %d bytes, more than the %d expected", path, fi.Size(), n)
			}
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %d bytes in %s (%v)", n, path, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitEndOffset waits, polling finely, until partition 0 of topic ends at
// n or later.
func waitEndOffset(b testing.TB, cl *kgo.Client, topic string, n int64) {
	b.Helper()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(time.Minute)
	for {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err == nil {
			if o, ok := ends.Lookup(topic, 0); ok && o.Offset >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %d records in %s (%v)", n, topic, err)
		}
		time.Sleep(time.Millisecond)
	}
}
