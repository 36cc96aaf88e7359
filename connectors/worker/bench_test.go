package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// Benchmarks of the worker against a real broker, each compared with the
// raw franz-go client doing the same job (same consumer group join, same
// topic already created), in the same run:
//
//	go test -run '^$' -bench . -benchtime 3x ./connectors/worker
//
// One op moves benchRecords records; records/s is the figure to compare.

const benchRecords = 100000

func benchLines() []string { return lines(benchRecords, 0) }

// BenchmarkSinkFile: topic → file-sink connector (fsync on every flush)
// versus a kgo consumer appending the values to a file and fsyncing once.
func BenchmarkSinkFile(b *testing.B) {
	br := brokertest.Start(b)
	cl := benchClient(b, br.Addr, kgo.ProducerLinger(5*time.Millisecond))
	createTopicB(b, cl, "bench-in")
	values := benchLines()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: "bench-in", Value: []byte(v)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()

	b.Run("raw-kgo", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			out := filepath.Join(dir, fmt.Sprintf("raw-%d-%d", b.N, i))
			start := time.Now()
			rawConsumeToFile(b, br.Addr, "bench-in", fmt.Sprintf("raw-group-%d-%d", b.N, i), out, len(values))
			b.ReportMetric(float64(len(values))/time.Since(start).Seconds(), "records/s")
		}
	})
	b.Run("connector", func(b *testing.B) {
		tw := startWorkerB(b, br.Addr)
		for i := 0; i < b.N; i++ {
			name := fmt.Sprintf("sink-%d-%d", b.N, i)
			out := filepath.Join(dir, name)
			start := time.Now()
			tw.create(name, map[string]string{"connector.class": "file-sink", "file": out, "topics": "bench-in",
				"consumer.override.max.poll.records": "5000"})
			waitLinesB(b, out, len(values))
			b.ReportMetric(float64(len(values))/time.Since(start).Seconds(), "records/s")
			tw.mustCall("DELETE", "/connectors/"+name, nil, 204)
		}
	})
}

// BenchmarkSourceFile: file-source connector → topic (positions stored per
// batch) versus a kgo producer sending the lines of the file.
func BenchmarkSourceFile(b *testing.B) {
	br := brokertest.Start(b)
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	writeLines(b, in, benchLines())
	cl := benchClient(b, br.Addr)

	b.Run("raw-kgo", func(b *testing.B) {
		p := benchClient(b, br.Addr, kgo.ProducerLinger(5*time.Millisecond))
		for i := 0; i < b.N; i++ {
			topic := fmt.Sprintf("raw-src-%d-%d", b.N, i)
			createTopicB(b, cl, topic)
			start := time.Now()
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				p.Produce(context.Background(), &kgo.Record{Topic: topic, Value: append([]byte(nil), sc.Bytes()...)}, nil)
			}
			f.Close()
			if err := p.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(benchRecords)/time.Since(start).Seconds(), "records/s")
		}
	})
	b.Run("connector", func(b *testing.B) {
		tw := startWorkerB(b, br.Addr)
		for i := 0; i < b.N; i++ {
			name := fmt.Sprintf("src-%d-%d", b.N, i)
			createTopicB(b, cl, name)
			start := time.Now()
			tw.create(name, map[string]string{"connector.class": "file-source", "file": in, "topic": name,
				"batch.size": "5000", "poll.interval": "10ms"})
			waitEndOffset(b, cl, name, benchRecords)
			b.ReportMetric(float64(benchRecords)/time.Since(start).Seconds(), "records/s")
			tw.mustCall("DELETE", "/connectors/"+name, nil, 204)
		}
	})
}

func benchClient(b testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	return client(b, addr, opts...)
}

func createTopicB(b testing.TB, cl *kgo.Client, topic string) { createTopic(b, cl, topic, 1) }

func startWorkerB(b testing.TB, addr string) *testWorker { return startWorker(b, addr) }

// waitLinesB waits until path holds n lines, counting cheaply.
func waitLinesB(b testing.TB, path string, n int) {
	waitFor(b, fmt.Sprintf("%d lines in %s", n, path), func() bool {
		data, _ := os.ReadFile(path)
		return bytes.Count(data, []byte{'\n'}) >= n
	})
}

// rawConsumeToFile is the baseline sink: consume n records, append the
// values as lines, fsync.
func rawConsumeToFile(b testing.TB, addr, topic, group, out string, n int) {
	cl := client(b, addr, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	got := 0
	for got < n {
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

func waitEndOffset(b testing.TB, cl *kgo.Client, topic string, n int64) {
	adm := kadm.NewClient(cl)
	waitFor(b, "records in "+topic, func() bool {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			return false
		}
		o, _ := ends.Lookup(topic, 0)
		return o.Offset >= n
	})
}
