package storage

import (
	"os"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(es)
}

// TestMaxOpenFilesCountsPartitions: the descriptors a Manager holds,
// counted by the kernel, stay within MaxOpenFiles as partitions open and
// closed segments are read, because open partitions take their share
// from the closed segments' cache.
func TestMaxOpenFilesCountsPartitions(t *testing.T) {
	const limit = 14
	before := openFDs(t)
	m, err := OpenManager(t.TempDir(), Options{MaxOpenFiles: limit, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1 << 10
	var logs []*Log
	check := func(stage string) {
		t.Helper()
		for _, l := range logs {
			if err := l.waitFlushes(); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, l, 0); len(got) == 0 {
				t.Fatalf("%s: nothing read", stage)
			}
		}
		held := openFDs(t) - before
		want := max(limit, 1+partitionFiles*len(logs)+2) // the cache keeps at least one handle
		if held > want {
			t.Fatalf("%s: %d partitions hold %d descriptors, limit %d", stage, len(logs), held, want)
		}
		t.Logf("%s: %d partitions, %d descriptors, %d cached segment handles", stage, len(logs), held, m.cache.openCount())
	}
	for p := int32(0); p < 5; p++ {
		l, err := m.Open(TopicPartition{"fds", p}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
		for l.SegmentCount() < 6 {
			appendAt(t, l, time.Now().UnixMilli())
		}
		l.SetHighWatermark(l.LogEndOffset())
		check("opened")
	}
	if n := m.cache.openCount(); n != 1 {
		t.Fatalf("5 partitions with MaxOpenFiles %d: %d cached segment handles, want 1", limit, n)
	}
	// Closing partitions gives their share back to the cache.
	for _, tp := range []TopicPartition{{"fds", 3}, {"fds", 4}} {
		if err := m.Delete(tp); err != nil {
			t.Fatal(err)
		}
	}
	logs = logs[:3]
	check("after deleting two")
	if n := m.cache.openCount(); n != (limit-1-3*partitionFiles)/2 {
		t.Fatalf("3 partitions with MaxOpenFiles %d: %d cached segment handles, want %d", limit, n, (limit-1-3*partitionFiles)/2)
	}
}
