package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestConcurrentReadersAndWriter: readers tailing the log while the
// writer appends, rolls and retention deletes old segments. Readers must
// only ever see whole valid batches with increasing offsets, or
// ErrOffsetOutOfRange for offsets retention removed. Run with -race.
func TestConcurrentReadersAndWriter(t *testing.T) {
	t.Run("delete", func(t *testing.T) { concurrentReaders(t, false) })
	t.Run("compact", func(t *testing.T) { concurrentReaders(t, true) })
}

func concurrentReaders(t *testing.T, compact bool) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.RetentionBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	if compact {
		cfg.CleanupCompact, cfg.CleanupDelete = true, false
		cfg.MinCleanableRatio = 0
	}
	l, err := Open(t.TempDir(), cfg, Options{Logger: quietLogger(), MaxOpenFiles: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	errc := make(chan error, 8)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(0)
			for ctx.Err() == nil {
				res, err := l.Read(off, 4096, l.HighWatermark())
				if errors.Is(err, ErrOffsetOutOfRange) {
					off = l.LogStartOffset()
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				if len(res.Data) == 0 {
					time.Sleep(50 * time.Microsecond) // caught up: do not spin
				}
				for d := res.Data; len(d) > 0; {
					h, err := validateBatch(d, 1<<30, false)
					if err != nil {
						errc <- err
						return
					}
					if h.LastOffset() < off {
						errc <- errors.New("offsets went backwards")
						return
					}
					off = h.LastOffset() + 1
					d = d[h.Size():]
				}
				reads.Add(1)
			}
		}()
	}
	n := 3000
	if testing.Short() {
		n = 800
	}
	for i := 0; i < n; i++ {
		if _, err := l.Append(simpleBatch(t, 1+i%4, "c", time.Now().UnixMilli()), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		if i%50 == 0 {
			if err := l.Maintain(time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if !compact && l.LogStartOffset() == 0 {
		t.Fatal("retention never ran")
	}
	t.Logf("%d reads, %d segments, log start %d", reads.Load(), l.SegmentCount(), l.LogStartOffset())
}

func TestManager(t *testing.T) {
	dir := t.TempDir()
	m, err := OpenManager(dir, Options{Logger: quietLogger(), MaintainInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 249) // Kafka's longest topic name
	tps := []TopicPartition{{"orders", 0}, {"orders", 1}, {"a.b_c-d", 7}, {long, 2}}
	for _, tp := range tps {
		l, err := m.Open(tp, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(simpleBatch(t, 2, tp.String(), 1), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if m.Get(tps[0]) == nil || m.Get(TopicPartition{"nope", 0}) != nil {
		t.Fatal("Get")
	}
	for _, bad := range []TopicPartition{{long, 1 << 30}, {"../etc", 0}, {"", 0}, {"a/b", 0}, {"..", 1}, {"ok", -1}} {
		if _, err := m.Open(bad, DefaultConfig()); err == nil {
			t.Fatalf("opened bad partition %v", bad)
		}
	}
	// Run applies retention in the background: a partition whose records
	// are decades old and whose segments roll every millisecond empties.
	oldCfg := DefaultConfig()
	oldCfg.SegmentMs = time.Millisecond
	oldCfg.RetentionMs = time.Hour
	old, err := m.Open(TopicPartition{"old", 0}, oldCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Append(simpleBatch(t, 3, "ancient", 1000), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	old.SetHighWatermark(old.LogEndOffset())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	for deadline := time.Now().Add(20 * time.Second); old.LogStartOffset() != 3; {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not apply retention: log start %d", old.LogStartOffset())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if err := m.Delete(TopicPartition{"old", 0}); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(tps[1]); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(tps[3]); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = OpenManager(dir, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.OnDisk()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != tps[2] || got[1] != tps[0] {
		t.Fatalf("OnDisk = %v", got)
	}
	l, err := m.Open(tps[0], DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("LEO after reopen %d", l.LogEndOffset())
	}
	// A second process (here: a second Manager, or a lone Open) cannot
	// open the directory or the partition.
	if _, err := OpenManager(dir, Options{Logger: quietLogger()}); err == nil {
		t.Fatal("data directory opened twice")
	}
	if _, err := Open(filepath.Join(dir, "orders-0"), DefaultConfig(), Options{Logger: quietLogger()}); err == nil {
		t.Fatal("partition opened twice")
	}
}

func TestMetricsExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := OpenManager(t.TempDir(), Options{Logger: quietLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Open(TopicPartition{"t", 3}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(simpleBatch(t, 4, "m", 1), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	l.Append([]byte("junk"), AppendOptions{})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				vals[mf.GetName()] += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				vals[mf.GetName()] += m.GetGauge().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"sluice_storage_append_records_total":     4,
		"sluice_storage_append_rejected_total":    1,
		"sluice_storage_partition_log_end_offset": 4,
	} {
		if vals[name] != want {
			t.Errorf("%s = %v, want %v", name, vals[name], want)
		}
	}
}
