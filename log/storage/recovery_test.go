package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func appendN(t *testing.T, l *Log, n int, tag string) (last int64) {
	t.Helper()
	for i := 0; i < n; i++ {
		info, err := l.Append(simpleBatch(t, 3, tag, 1000+int64(i)), AppendOptions{LeaderEpoch: 0})
		if err != nil {
			t.Fatal(err)
		}
		last = info.LastOffset
	}
	return last
}

func readAll(t *testing.T, l *Log, from int64) []header {
	t.Helper()
	var out []header
	for off := from; off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Data) == 0 {
			break
		}
		hs := splitBatches(t, res.Data)
		out = append(out, hs...)
		off = hs[len(hs)-1].LastOffset() + 1
	}
	return out
}

func TestRecoveryTruncatesTornAndCorruptTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		keep   int // batches expected to survive of 10
	}{
		{"torn last batch", func(t *testing.T, p string, size int64) { os.Truncate(p, size-7) }, 9},
		{"garbage appended", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write([]byte("garbage garbage garbage garbage garbage garbage garbage garbage"))
			f.Close()
		}, 10},
		{"zeros appended", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(make([]byte, 4096))
			f.Close()
		}, 10},
		{"flipped bit in batch 5", func(t *testing.T, p string, size int64) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			per := size / 10
			b := make([]byte, 1)
			f.ReadAt(b, 5*per+70)
			b[0] ^= 0x10
			f.WriteAt(b, 5*per+70)
			f.Close()
		}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, DefaultConfig())
			appendN(t, l, 10, "a")
			l.Close()
			// Make recovery distrust everything: drop the checkpoint.
			os.Remove(filepath.Join(dir, checkpointFile))
			p := filepath.Join(dir, segmentName(0)+extLog)
			st, _ := os.Stat(p)
			tc.damage(t, p, st.Size())
			l = openTest(t, dir, DefaultConfig())
			defer l.Close()
			hs := readAll(t, l, 0)
			if len(hs) != tc.keep {
				t.Fatalf("%d batches survive, want %d", len(hs), tc.keep)
			}
			if l.LogEndOffset() != int64(3*tc.keep) {
				t.Fatalf("LEO %d, want %d", l.LogEndOffset(), 3*tc.keep)
			}
			// The log keeps working after the cut.
			if last := appendN(t, l, 1, "b"); last != int64(3*tc.keep+2) {
				t.Fatalf("append after recovery got last offset %d", last)
			}
		})
	}
}

// A batch damaged on disk after a clean shutdown (so recovery trusts the
// segment without reading it) is refused by Read, never served; the
// batches before it still are.
func TestCorruptBatchIsNeverServed(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, DefaultConfig())
	appendN(t, l, 4, "a")
	l.Close()
	p := filepath.Join(dir, segmentName(0)+extLog)
	st, _ := os.Stat(p)
	f, _ := os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff}, st.Size()/4*2+80) // inside batch 2 (offsets 6-8)
	f.Close()
	l = openTest(t, dir, DefaultConfig())
	defer l.Close()
	res, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(splitBatches(t, res.Data)); got != 2 {
		t.Fatalf("%d batches served before the damage, want 2", got)
	}
	if res, err := l.Read(6, 1<<20, l.LogEndOffset()); !errors.Is(err, ErrCorruptBatch) || len(res.Data) != 0 {
		t.Fatalf("read of the damaged batch: %d bytes, %v", len(res.Data), err)
	}
	if _, err := l.Read(9, 1<<20, l.LogEndOffset()); err != nil {
		t.Fatalf("batch after the damage: %v", err)
	}
}

func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, DefaultConfig())
	b := func(seq int32, epoch int16, n int) []byte {
		rs := make([]rec, n)
		for i := range rs {
			rs[i] = rec{Value: []byte("v")}
		}
		return makeBatch(t, batchSpec{Records: rs, ProducerID: 7, ProducerEpoch: epoch, BaseSequence: seq})
	}
	first, err := l.Append(b(0, 0, 2), AppendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(b(2, 0, 3), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	dup, err := l.Append(b(0, 0, 2), AppendOptions{})
	if err != nil || !dup.Duplicate || dup.BaseOffset != first.BaseOffset || dup.LastOffset != first.LastOffset {
		t.Fatalf("retry: %+v %v", dup, err)
	}
	if _, err := l.Append(b(9, 0, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	if _, err := l.Append(b(5, 1, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: %v", err)
	}
	if _, err := l.Append(b(0, 1, 1), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(b(1, 0, 1), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	leo := l.LogEndOffset()
	l.Close()
	// State survives a restart (snapshot at close) ...
	l = openTest(t, dir, DefaultConfig())
	if d, err := l.Append(b(0, 1, 1), AppendOptions{}); err != nil || !d.Duplicate {
		t.Fatalf("dup after restart: %+v %v", d, err)
	}
	l.Close()
	// ... and without snapshots, rebuilt from the batches.
	snaps, _ := filepath.Glob(filepath.Join(dir, "*"+extSnapshot))
	for _, s := range snaps {
		os.Remove(s)
	}
	os.Remove(filepath.Join(dir, checkpointFile))
	l = openTest(t, dir, DefaultConfig())
	defer l.Close()
	if d, err := l.Append(b(0, 1, 1), AppendOptions{}); err != nil || !d.Duplicate {
		t.Fatalf("dup after rebuild: %+v %v", d, err)
	}
	if _, err := l.Append(b(3, 1, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after rebuild: %v", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("LEO moved: %d vs %d", l.LogEndOffset(), leo)
	}
}

func TestTruncateAndEpochs(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1024
	l := openTest(t, dir, cfg)
	for i := 0; i < 30; i++ {
		epoch := int32(i / 10) // epochs 0,1,2 starting at 0,30,60
		if _, err := l.Append(simpleBatch(t, 3, "e", 1000), AppendOptions{LeaderEpoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 60 {
		t.Fatalf("epoch 1 end: %d %d", e, off)
	}
	if e, off := l.EndOffsetForEpoch(2); e != 2 || off != 90 {
		t.Fatalf("epoch 2 end: %d %d", e, off)
	}
	if err := l.TruncateTo(44); err != nil { // inside the batch 42..44
		t.Fatal(err)
	}
	if l.LogEndOffset() != 42 {
		t.Fatalf("LEO after truncate: %d", l.LogEndOffset())
	}
	if e, off := l.EndOffsetForEpoch(2); e != -1 || off != -1 {
		t.Fatalf("epoch 2 after truncate (now unknown): %d %d", e, off)
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 42 {
		t.Fatalf("epoch 1 after truncate: %d %d", e, off)
	}
	if _, err := l.Append(simpleBatch(t, 1, "new", 1000), AppendOptions{LeaderEpoch: 3}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openTest(t, dir, cfg)
	defer l.Close()
	if l.LogEndOffset() != 43 {
		t.Fatalf("LEO after reopen: %d", l.LogEndOffset())
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 42 {
		t.Fatalf("epoch 1 after reopen: %d %d", e, off)
	}
	if got := len(readAll(t, l, 0)); got != 15 {
		t.Fatalf("%d batches after truncate+append, want 15", got)
	}
	// Truncating below the start empties the log.
	if err := l.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 0 || l.SegmentCount() != 1 {
		t.Fatalf("after full truncate: LEO %d, %d segments", l.LogEndOffset(), l.SegmentCount())
	}
}

func TestRetentionAndDeleteRecords(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1024
	cfg.RetentionBytes = 3000
	now := int64(1_000_000)
	l, err := Open(dir, cfg, Options{Logger: testLogger(t), Now: func() time.Time { return time.UnixMilli(now) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 60; i++ {
		if _, err := l.Append(simpleBatch(t, 3, "r", now), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 3000+1024 {
		t.Fatalf("size %d after retention.bytes=3000", l.Size())
	}
	start := l.LogStartOffset()
	if start == 0 {
		t.Fatal("log start did not move")
	}
	if _, err := l.Read(0, 100, l.LogEndOffset()); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	got, err := l.DeleteRecordsBefore(start + 5)
	if err != nil || got != start+5 {
		t.Fatalf("DeleteRecordsBefore: %d %v", got, err)
	}
	res, err := l.Read(start+5, 1, l.LogEndOffset())
	if err != nil || len(res.Data) == 0 || res.LogStartOffset != start+5 {
		t.Fatalf("read at new start: %+v %v", res, err)
	}
	// retention.ms: everything older than an hour goes (the active
	// segment rolls first).
	cfg.RetentionMs = time.Hour
	cfg.RetentionBytes = -1
	l.SetConfig(cfg)
	now += 2 * time.Hour.Milliseconds()
	if err := l.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != l.LogEndOffset() || l.Size() != 0 {
		t.Fatalf("after retention.ms: start %d end %d size %d", l.LogStartOffset(), l.LogEndOffset(), l.Size())
	}
}

// Damage in a closed segment below the recovery point is not re-read at
// open; reads of it must fail with ErrCorruptBatch, never return garbage
// or silently skip to the next segment.
func TestCorruptClosedSegmentIsReported(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1024
	l := openTest(t, dir, cfg)
	appendN(t, l, 40, "a")
	if l.SegmentCount() < 3 {
		t.Fatalf("want several segments, have %d", l.SegmentCount())
	}
	l.Close()
	p := filepath.Join(dir, segmentName(0)+extLog)
	data, _ := os.ReadFile(p)
	h := parseHeader(data)
	second := h.Size()
	cases := []struct {
		name  string
		patch func(b []byte)
	}{
		{"length", func(b []byte) { b[second+offBatchLength] = 0x40 }},
		{"crc", func(b []byte) { b[second+batchHeaderSize+3] ^= 0xff }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), data...)
			tc.patch(b)
			os.WriteFile(p, b, 0o644)
			defer os.WriteFile(p, data, 0o644)
			l := openTest(t, dir, cfg)
			defer l.Close()
			off := h.LastOffset() + 1 // the damaged second batch
			res, err := l.Read(off, 1<<20, l.LogEndOffset())
			if !errors.Is(err, ErrCorruptBatch) || len(res.Data) != 0 {
				t.Fatalf("read of damaged batch: %d bytes, %v", len(res.Data), err)
			}
			if res, err := l.Read(0, 1<<20, l.LogEndOffset()); err != nil || len(splitBatches(t, res.Data)) != 1 {
				t.Fatalf("read before the damage: %v", err)
			}
		})
	}
}
