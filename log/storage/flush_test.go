package storage

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// blockedFlush is a beforeSegmentFlush hook that holds the first
// background flush until released, so a test can act while it is in
// progress.
type blockedFlush struct {
	started chan int64    // receives the base of the segment whose flush began
	release chan struct{} // closed to let flushes proceed
	once    sync.Once
}

func newBlockedFlush() *blockedFlush {
	return &blockedFlush{started: make(chan int64, 1), release: make(chan struct{})}
}

func (b *blockedFlush) hook(base int64) {
	b.once.Do(func() { b.started <- base })
	<-b.release
}

// safety bounds a wait that would only run out if the code under test
// deadlocked; it asserts nothing about speed.
const safety = 2 * time.Minute

// appendUntilRoll appends batches until the log has rolled once more.
// It may run on a goroutine other than the test's.
func appendUntilRoll(t *testing.T, l *Log, sent *[][]byte) error {
	segs := l.SegmentCount()
	for i := 0; l.SegmentCount() == segs; i++ {
		if i > 10000 {
			return errors.New("no roll after 10000 batches")
		}
		b := simpleBatch(t, 4, "r", time.Now().UnixMilli())
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			return err
		}
		*sent = append(*sent, append([]byte(nil), b...))
	}
	return nil
}

// TestRollFlushesInBackground holds the background flush of a rolled
// segment and shows, by the order of events, that appends (including the
// one that rolled) complete while that flush is still in progress; that
// the recovery point does not pass the segment and its index files are
// not written until the flush is done; and that everything is intact
// after the flush and a restart.
func TestRollFlushesInBackground(t *testing.T) {
	for _, every := range []bool{false, true} {
		name := "flush.messages=never"
		if every {
			name = "flush.messages=1"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 16 << 10
			cfg.IndexIntervalBytes = 512
			cfg.FlushMessages = math.MaxInt64
			if every {
				cfg.FlushMessages = 1
			}
			bf := newBlockedFlush()
			l, err := Open(dir, cfg, Options{Logger: testLogger(t), hooks: &testHooks{beforeSegmentFlush: bf.hook}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				select {
				case <-bf.release:
				default:
					close(bf.release)
				}
				l.Close()
			}()
			var sent [][]byte
			appended := make(chan error, 1)
			go func() {
				defer close(appended)
				if err := appendUntilRoll(t, l, &sent); err != nil {
					appended <- err
					return
				}
				// More appends into the new segment, one of them with
				// an explicit flush of the active segment.
				for i := 0; i < 5; i++ {
					b := simpleBatch(t, 2, "after", time.Now().UnixMilli())
					if _, err := l.Append(b, AppendOptions{}); err != nil {
						appended <- err
						return
					}
					sent = append(sent, append([]byte(nil), b...))
				}
			}()
			var base int64
			select {
			case base = <-bf.started:
			case <-time.After(safety):
				t.Fatal("the rolled segment's flush never started")
			}
			// The flush of segment 0 is now held in progress.
			select {
			case err := <-appended:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(safety):
				t.Fatal("appends did not complete while the rolled segment's flush was in progress")
			}
			if base != 0 {
				t.Fatalf("flush started for segment %d, want 0", base)
			}
			rolledEnd := l.segments()[1].base
			l.wmu.Lock()
			rp := l.recoveryPointLocked()
			l.wmu.Unlock()
			// With fsync on every batch the segment's data is durable
			// (only its index files are pending); otherwise nothing is.
			if limit := map[bool]int64{true: rolledEnd, false: 0}[every]; rp > limit {
				t.Fatalf("recovery point %d passed %d while segment [0, %d) is being flushed", rp, limit, rolledEnd)
			}
			if _, err := os.Stat(filepath.Join(dir, segmentName(0)+extIndex)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("index file of the segment being flushed exists already: %v", err)
			}
			// Reads of the segment being flushed are served meanwhile.
			if got := readAll(t, l, 0); len(got) != len(sent) {
				t.Fatalf("read %d batches during the flush, want %d", len(got), len(sent))
			}

			close(bf.release)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			l.wmu.Lock()
			rp = l.recoveryPointLocked()
			l.wmu.Unlock()
			if rp != l.LogEndOffset() {
				t.Fatalf("after Flush the recovery point is %d, want the log end %d", rp, l.LogEndOffset())
			}
			for _, ext := range []string{extIndex, extTimeIndex} {
				if _, err := os.Stat(filepath.Join(dir, segmentName(0)+ext)); err != nil {
					t.Fatalf("after the flush: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, segmentName(rolledEnd)+extSnapshot)); err != nil {
				t.Fatalf("producer snapshot at the roll: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l2 := openTest(t, dir, cfg)
			defer l2.Close()
			checkSent(t, l2, sent)
		})
	}
}

// checkSent reads the whole log and compares it batch by batch with sent
// (as produced, offsets assigned from 0).
func checkSent(t *testing.T, l *Log, sent [][]byte) {
	t.Helper()
	var got [][]byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("nothing served at %d below the log end %d", off, l.LogEndOffset())
		}
		p := 0
		for _, h := range splitBatches(t, res.Data) {
			got = append(got, res.Data[p:p+h.Size()])
			p += h.Size()
			off = h.LastOffset() + 1
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("%d batches in the log, want %d", len(got), len(sent))
	}
	off := int64(0)
	for i, b := range sent {
		want := append([]byte(nil), b...)
		setBaseOffset(want, off)
		setLeaderEpoch(want, 0)
		if !bytes.Equal(got[i], want) {
			t.Fatalf("batch %d at offset %d differs from what was appended", i, off)
		}
		off += int64(parseHeader(want).LastOffsetDelta) + 1
	}
}

// TestRetentionWaitsForBackgroundFlush: retention from the Manager's loop
// skips a segment whose flush is in progress (and deletes it later);
// nothing is written for a segment after it is deleted.
func TestRetentionWaitsForBackgroundFlush(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.RetentionBytes = 0 // keep only the active segment
	bf := newBlockedFlush()
	l, err := Open(dir, cfg, Options{Logger: testLogger(t), hooks: &testHooks{beforeSegmentFlush: bf.hook}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var sent [][]byte
	if err := appendUntilRoll(t, l, &sent); err != nil {
		t.Fatal(err)
	}
	<-bf.started
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.maintainFast(time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 0 || l.SegmentCount() != 2 {
		t.Fatalf("retention deleted a segment whose flush is in progress (start %d, %d segments)", l.LogStartOffset(), l.SegmentCount())
	}
	close(bf.release)
	if err := l.waitFlushes(); err != nil {
		t.Fatal(err)
	}
	if err := l.maintainFast(time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 1 || l.LogStartOffset() != l.segments()[0].base {
		t.Fatalf("after the flush: %d segments, start %d", l.SegmentCount(), l.LogStartOffset())
	}
	for _, ext := range []string{extLog, extIndex, extTimeIndex} {
		if _, err := os.Stat(filepath.Join(dir, segmentName(0)+ext)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("deleted segment's %s: %v", ext, err)
		}
	}
}

// TestFailedFsyncFailsLog injects a failed fdatasync (EIO) on the append
// path (flush.messages=1) and in the background flush of a rolled
// segment: the log refuses writes with ErrLogFailed, keeps serving reads,
// and after reopening (recovery) holds every acknowledged batch and
// accepts appends again.
func TestFailedFsyncFailsLog(t *testing.T) {
	for _, bg := range []bool{false, true} {
		name := "append"
		if bg {
			name = "background"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.SegmentBytes = 16 << 10
			cfg.FlushMessages = 1
			if bg {
				cfg.FlushMessages = math.MaxInt64
			}
			var mu sync.Mutex
			armed := false
			hk := &testHooks{fsync: func(*os.File) error {
				mu.Lock()
				defer mu.Unlock()
				if armed {
					return syscall.EIO
				}
				return nil
			}}
			l, err := Open(dir, cfg, Options{Logger: testLogger(t), hooks: hk})
			if err != nil {
				t.Fatal(err)
			}
			var acked [][]byte
			for i := 0; i < 5; i++ {
				b := simpleBatch(t, 3, "ok", time.Now().UnixMilli())
				if _, err := l.Append(b, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				acked = append(acked, b)
			}
			mu.Lock()
			armed = true
			mu.Unlock()
			if bg {
				// Appends are acknowledged without fsync; the roll's
				// background flush fails.
				if err := appendUntilRoll(t, l, &acked); err != nil {
					t.Fatal(err)
				}
				if err := l.waitFlushes(); !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
					t.Fatalf("background flush: %v, want ErrLogFailed wrapping EIO", err)
				}
			} else {
				_, err := l.Append(simpleBatch(t, 3, "eio", time.Now().UnixMilli()), AppendOptions{})
				if !errors.Is(err, ErrLogFailed) || !errors.Is(err, syscall.EIO) {
					t.Fatalf("append with a failing fsync: %v, want ErrLogFailed wrapping EIO", err)
				}
			}
			_, err = l.Append(simpleBatch(t, 1, "refused", time.Now().UnixMilli()), AppendOptions{})
			if !errors.Is(err, ErrLogFailed) {
				t.Fatalf("append after the failure: %v, want ErrLogFailed", err)
			}
			if got := readAll(t, l, 0); len(got) < len(acked) {
				t.Fatalf("failed log serves %d batches, want at least %d", len(got), len(acked))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			armed = false
			mu.Unlock()
			l2 := openTest(t, dir, cfg)
			defer l2.Close()
			// The batch whose fsync failed may survive (its bytes were
			// written); every acknowledged one must.
			got := readAll(t, l2, 0)
			if len(got) < len(acked) {
				t.Fatalf("after reopening: %d batches, want at least %d acknowledged", len(got), len(acked))
			}
			off := int64(0)
			for i := range acked {
				if got[i].BaseOffset != off {
					t.Fatalf("batch %d at %d, want %d", i, got[i].BaseOffset, off)
				}
				off = got[i].LastOffset() + 1
			}
			if _, err := l2.Append(simpleBatch(t, 2, "again", time.Now().UnixMilli()), AppendOptions{}); err != nil {
				t.Fatalf("append after reopening: %v", err)
			}
		})
	}
}

// TestEvictionKeepsIndexWhileFlushing: a rolled segment whose handle
// leaves the file cache before its index file is written keeps its
// in-memory index, so reads keep using it.
func TestEvictionKeepsIndexWhileFlushing(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 256
	bf := newBlockedFlush()
	l, err := Open(t.TempDir(), cfg, Options{Logger: testLogger(t), MaxOpenFiles: 1, hooks: &testHooks{beforeSegmentFlush: bf.hook}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer close(bf.release)
	var sent [][]byte
	for l.SegmentCount() < 3 {
		if err := appendUntilRoll(t, l, &sent); err != nil {
			t.Fatal(err)
		}
	}
	<-bf.started
	seg0 := l.segments()[0]
	// Reading segment 1 takes the cache's only handle from segment 0.
	if _, err := l.Read(l.segments()[1].base, 1, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	l.cache.mu.Lock()
	evicted := seg0.h == nil
	l.cache.mu.Unlock()
	if !evicted {
		t.Fatal("segment 0's handle is still cached; the test did not evict it")
	}
	if seg0.idx.Load() == nil || len(*seg0.idx.Load()) == 0 {
		t.Fatal("segment 0 lost its in-memory index while its index file is not written")
	}
	if got := readAll(t, l, 0); len(got) != len(sent) {
		t.Fatalf("read %d batches, want %d", len(got), len(sent))
	}
}
