package storage

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// Benchmarks. Run on a quiet machine, in a directory on the disk under
// test (TMPDIR decides where b.TempDir lives):
//
//	go test -run '^$' -bench 'Append|Read' -benchtime 3s ./log/storage/
//
// BenchmarkAppend's sub-benchmarks append ~16 KiB batches of 16 x 1 KiB
// records; "raw" writes the same bytes to a plain file with (or without)
// fdatasync after each, the ceiling the log is measured against.
// BenchmarkAppendVsRaw runs both in one benchmark and reports the log's
// speed as a percentage of raw.

func benchBatch(b *testing.B) []byte {
	rs := make([]rec, 16)
	for i := range rs {
		v := make([]byte, 1024)
		for j := range v {
			v[j] = byte(i*31 + j)
		}
		rs[i] = rec{Key: []byte(fmt.Sprintf("key-%d", i)), Value: v}
	}
	return makeBatch(b, batchSpec{Records: rs, BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1})
}

func benchLog(b *testing.B, fsync bool) *Log {
	cfg := DefaultConfig()
	if fsync {
		cfg.FlushMessages = 1
	} else {
		cfg.FlushMessages = math.MaxInt64
	}
	l, err := Open(b.TempDir(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func report(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "batches/s")
}

func BenchmarkAppend(b *testing.B) {
	batch := benchBatch(b)
	for _, fsync := range []bool{true, false} {
		name := "fsync=every-batch"
		if !fsync {
			name = "fsync=never"
		}
		b.Run("log/"+name, func(b *testing.B) {
			l := benchLog(b, fsync)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(batch, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			report(b, b.N)
		})
		b.Run("raw/"+name, func(b *testing.B) {
			f := rawFile(b)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			rawWrite(b, f, batch, b.N, fsync)
			report(b, b.N)
		})
	}
}

func rawFile(b *testing.B) *os.File {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

func rawWrite(b *testing.B, f *os.File, batch []byte, n int, fsync bool) {
	for i := 0; i < n; i++ {
		if _, err := f.Write(batch); err != nil {
			b.Fatal(err)
		}
		if fsync {
			if err := fdatasync(f); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendVsRaw interleaves, batch by batch, a log append with
// fsync on every batch and a write+fdatasync of the same bytes to a plain
// file on the same disk, timing each side separately, so both see the same
// disk and the same background load. It reports the log's throughput as a
// percentage of raw (the goal is >= 70). Which side goes first alternates.
func BenchmarkAppendVsRaw(b *testing.B) {
	batch := benchBatch(b)
	l := benchLog(b, true)
	f := rawFile(b)
	b.SetBytes(int64(2 * len(batch)))
	b.ResetTimer()
	var logTime, rawTime time.Duration
	appendLog := func() {
		t := time.Now()
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		logTime += time.Since(t)
	}
	appendRaw := func() {
		t := time.Now()
		rawWrite(b, f, batch, 1, true)
		rawTime += time.Since(t)
	}
	for i := 0; i < b.N; i++ {
		// Alternate which goes first: an fsync right after another's
		// may pay for a journal commit the first one started.
		if i%2 == 0 {
			appendLog()
			appendRaw()
		} else {
			appendRaw()
			appendLog()
		}
	}
	b.ReportMetric(100*rawTime.Seconds()/logTime.Seconds(), "%_of_raw")
	b.ReportMetric(float64(b.N)/logTime.Seconds(), "log_batches/s")
	b.ReportMetric(float64(b.N)/rawTime.Seconds(), "raw_batches/s")
	b.ReportMetric(float64(b.N)*float64(len(batch))/logTime.Seconds()/1e6, "log_MB/s")
	b.ReportMetric(float64(b.N)*float64(len(batch))/rawTime.Seconds()/1e6, "raw_MB/s")
}

// BenchmarkRead fetches 1 MiB at a time from a log of 16 KiB batches, as
// a consumer catching up would (CRC verification on).
func BenchmarkRead(b *testing.B) {
	batch := benchBatch(b)
	l := benchLog(b, false)
	for i := 0; i < 4096; i++ {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.ResetTimer()
	var n int64
	off := int64(0)
	for i := 0; i < b.N; i++ {
		res, err := l.Read(off, 1<<20, leo)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(res.Data))
		off += int64(len(res.Data)/len(batch)) * 16
		if off >= leo {
			off = 0
		}
	}
	b.SetBytes(n / int64(b.N))
}

// BenchmarkAppendRoll measures what producers feel at segment rolls: it
// appends ~16 KiB batches with no fsync policy (the default: the OS
// writes back) to 128 MiB segments, so a roll happens every ~8000
// batches, and reports the worst and the 99.9th-percentile append latency
// next to the throughput. When a roll fsyncs the finished segment under
// the writer's lock, the worst append waits for that whole fsync. "raw"
// writes the same bytes to one plain file: its worst case is what the
// kernel's dirty-page throttling costs any writer.
//
//	go test -run '^$' -bench 'AppendRoll' -benchtime 40000x ./log/storage/
func BenchmarkAppendRoll(b *testing.B) {
	batch := benchBatch(b)
	latencies := func(b *testing.B, write func()) {
		lat := make([]time.Duration, b.N)
		b.SetBytes(int64(len(batch)))
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t := time.Now()
			write()
			lat[i] = time.Since(t)
		}
		b.StopTimer()
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(lat[len(lat)-1]), "max_ms")
		b.ReportMetric(ms(lat[len(lat)*999/1000]), "p999_ms")
		report(b, b.N)
	}
	b.Run("log", func(b *testing.B) {
		cfg := DefaultConfig()
		cfg.SegmentBytes = 128 << 20
		l, err := Open(b.TempDir(), cfg, Options{Logger: quietLogger()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
		latencies(b, func() {
			if _, err := l.Append(batch, AppendOptions{}); err != nil {
				b.Fatal(err)
			}
		})
		b.ReportMetric(float64(l.SegmentCount()-1), "rolls")
	})
	b.Run("raw", func(b *testing.B) {
		f := rawFile(b)
		latencies(b, func() { rawWrite(b, f, batch, 1, false) })
	})
}
