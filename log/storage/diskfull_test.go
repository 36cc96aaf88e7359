package storage

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestDiskFull runs the log on a real, small tmpfs (mounted for the test;
// needs root, skipped otherwise) until the disk is full: the append that
// does not fit fails with ENOSPC and writes nothing, every acknowledged
// batch stays readable, and once space is freed the log accepts appends
// again and holds everything acknowledged, byte for byte. A failed data
// write is undone and the log keeps going ("no roll"); when a rolled
// segment's background flush fails too (its index file did not fit), the
// log refuses writes until reopened, and reopening recovers it ("rolls").
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	for _, roll := range []bool{false, true} {
		name := "no roll"
		if roll {
			name = "rolls"
		}
		t.Run(name, func(t *testing.T) { testDiskFull(t, roll) })
	}
}

func testDiskFull(t *testing.T, roll bool) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 128<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "p-0")
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	if roll {
		cfg.SegmentBytes = 64 << 10
	}
	l := openTest(t, dir, cfg)
	t.Cleanup(func() { l.Close() }) // before the unmount
	var acked [][]byte
	var full error
	for i := 0; i < 10000 && full == nil; i++ {
		b := simpleBatch(t, 20, "fill-the-disk-"+string(rune('a'+i%26)), time.Now().UnixMilli())
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			full = err
			break
		}
		acked = append(acked, append([]byte(nil), b...))
	}
	if full == nil {
		t.Fatal("the disk never filled")
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v, want ENOSPC", full)
	}
	t.Logf("disk full after %d batches: %v", len(acked), full)
	if got := readAll(t, l, 0); len(got) != len(acked) {
		t.Fatalf("on a full disk %d batches are served, want the %d acknowledged", len(got), len(acked))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b := simpleBatch(t, 3, "after", time.Now().UnixMilli())
	_, err := l.Append(b, AppendOptions{})
	if errors.Is(err, ErrLogFailed) && roll {
		t.Logf("log failed (%v); reopening", err)
		l.Close()
		l = openTest(t, dir, cfg)
		_, err = l.Append(b, AppendOptions{})
	}
	if err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	acked = append(acked, b)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg)
	checkSent(t, l, acked)
}
