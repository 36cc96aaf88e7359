package storage

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func openTest(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAppendReadRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	l := openTest(t, dir, cfg)
	var sent [][]byte
	next := int64(0)
	for i := 0; i < 200; i++ {
		b := simpleBatch(t, 1+i%5, "x", 1000+int64(i))
		info, err := l.Append(b, AppendOptions{LeaderEpoch: 1})
		if err != nil {
			t.Fatal(err)
		}
		if info.BaseOffset != next {
			t.Fatalf("batch %d: base %d, want %d", i, info.BaseOffset, next)
		}
		next = info.LastOffset + 1
		sent = append(sent, append([]byte(nil), b...))
	}
	if l.SegmentCount() < 3 {
		t.Fatalf("expected rolls, got %d segments", l.SegmentCount())
	}
	check := func(l *Log) {
		t.Helper()
		if got := l.LogEndOffset(); got != next {
			t.Fatalf("LEO %d, want %d", got, next)
		}
		off := int64(0)
		var got [][]byte
		for off < next {
			res, err := l.Read(off, 1000, next)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Data) == 0 {
				t.Fatalf("empty read at %d", off)
			}
			hs := splitBatches(t, res.Data)
			p := 0
			for _, h := range hs {
				got = append(got, res.Data[p:p+h.Size()])
				p += h.Size()
				off = h.LastOffset() + 1
			}
		}
		if len(got) != len(sent) {
			t.Fatalf("read %d batches, want %d", len(got), len(sent))
		}
		for i := range got {
			if !bytes.Equal(got[i], sent[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Mid-batch offset returns the batch holding it.
		res, err := l.Read(next-1, 1, next)
		if err != nil || len(res.Data) == 0 {
			t.Fatalf("read last: %v", err)
		}
		if _, err := l.Read(next+1, 1, next+1); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read past end: %v", err)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg)
	check(l)
	off, ts, err := l.OffsetForTimestamp(1100)
	if err != nil || ts != 1100 {
		t.Fatalf("OffsetForTimestamp: %d %d %v", off, ts, err)
	}
	if _, _, err := l.OffsetForTimestamp(5000); !errors.Is(err, ErrNoOffsetForTimestamp) {
		t.Fatalf("want ErrNoOffsetForTimestamp, got %v", err)
	}
	l.Close()
	_ = time.Now
}
