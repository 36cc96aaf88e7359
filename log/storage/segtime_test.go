package storage

import (
	"testing"
	"time"
)

// clockLog opens a log whose clock the test moves.
func clockLog(t *testing.T, dir string, cfg Config, now *int64) *Log {
	t.Helper()
	l, err := Open(dir, cfg, Options{Logger: testLogger(t), Now: func() time.Time { return time.UnixMilli(*now) }})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func appendAt(t *testing.T, l *Log, ts int64) {
	t.Helper()
	b := makeBatch(t, batchSpec{Records: []rec{{Key: []byte("k"), Value: []byte("v")}}, BaseTimestamp: ts, ProducerID: -1})
	if _, err := l.Append(b, AppendOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSegmentMsByTimestamps(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	cfg := DefaultConfig()
	cfg.SegmentMs = time.Hour
	cfg.RetentionMs = -1
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

	t.Run("event time of a backfill, broker clock still", func(t *testing.T) {
		now := t0
		l := clockLog(t, t.TempDir(), cfg, &now)
		defer l.Close()
		old := t0 - 240*hour
		appendAt(t, l, old)
		appendAt(t, l, old+hour/2)
		if n := l.SegmentCount(); n != 1 {
			t.Fatalf("rolled after half of segment.ms of event time: %d segments", n)
		}
		appendAt(t, l, old+hour)
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("no roll after segment.ms of event time: %d segments", n)
		}
		// The broker's clock does not cut a backfill's segments on every
		// maintenance pass: it counts from the first append.
		now += hour / 2
		if err := l.Maintain(time.UnixMilli(now)); err != nil {
			t.Fatal(err)
		}
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("maintenance rolled a young segment of old data: %d segments", n)
		}
	})

	t.Run("no timestamps: broker clock", func(t *testing.T) {
		now := t0
		l := clockLog(t, t.TempDir(), cfg, &now)
		defer l.Close()
		appendAt(t, l, -1)
		now += hour - 1
		appendAt(t, l, -1)
		if n := l.SegmentCount(); n != 1 {
			t.Fatalf("rolled early: %d segments", n)
		}
		now += 1
		appendAt(t, l, -1)
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("no roll after segment.ms by the broker's clock: %d segments", n)
		}
	})

	t.Run("timestamp far ahead of the broker: broker clock", func(t *testing.T) {
		now := t0
		l := clockLog(t, t.TempDir(), cfg, &now)
		defer l.Close()
		appendAt(t, l, t0+10*hour)
		now += hour
		appendAt(t, l, t0+hour)
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("a future first timestamp held the segment open: %d segments", n)
		}
	})

	t.Run("idle partition rolls from maintenance", func(t *testing.T) {
		now := t0
		l := clockLog(t, t.TempDir(), cfg, &now)
		defer l.Close()
		appendAt(t, l, t0)
		if err := l.Maintain(time.UnixMilli(t0 + hour - 1)); err != nil {
			t.Fatal(err)
		}
		if n := l.SegmentCount(); n != 1 {
			t.Fatalf("rolled early: %d segments", n)
		}
		if err := l.Maintain(time.UnixMilli(t0 + hour)); err != nil {
			t.Fatal(err)
		}
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("idle segment did not roll: %d segments", n)
		}
	})

	t.Run("a restart does not reset the clock", func(t *testing.T) {
		dir := t.TempDir()
		now := t0
		l := clockLog(t, dir, cfg, &now)
		appendAt(t, l, t0)
		now += hour * 3 / 4
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = clockLog(t, dir, cfg, &now)
		defer l.Close()
		now += hour / 4
		if err := l.Maintain(time.UnixMilli(now)); err != nil {
			t.Fatal(err)
		}
		if n := l.SegmentCount(); n != 2 {
			t.Fatalf("segment reopened after 45 min did not roll at 60: %d segments", n)
		}
	})
}

// TestRetentionByLargestTimestamp: retention.ms counts from a segment's
// largest timestamp, not its first; a segment without timestamps
// expires by its file's modification time.
func TestRetentionByLargestTimestamp(t *testing.T) {
	const hour = int64(time.Hour / time.Millisecond)
	cfg := DefaultConfig()
	cfg.SegmentMs = Forever
	cfg.SegmentBytes = 1 << 10
	cfg.RetentionMs = 10 * time.Hour
	t0 := time.Now().UnixMilli()

	now := t0
	l := clockLog(t, t.TempDir(), cfg, &now)
	defer l.Close()
	appendAt(t, l, t0-20*hour) // old first record
	appendAt(t, l, t0)         // young last record: the segment is young
	for l.SegmentCount() < 3 {
		appendAt(t, l, t0)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 0 {
		t.Fatalf("segment whose newest record is young was deleted (log start %d)", l.LogStartOffset())
	}
	now = t0 + 10*hour + 1
	if err := l.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("segments past retention.ms by their newest record were kept")
	}

	// No timestamps at all: the file's age decides.
	now = t0
	l2 := clockLog(t, t.TempDir(), cfg, &now)
	defer l2.Close()
	for l2.SegmentCount() < 3 {
		appendAt(t, l2, -1)
	}
	l2.SetHighWatermark(l2.LogEndOffset())
	if err := l2.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l2.LogStartOffset() != 0 {
		t.Fatalf("fresh segments without timestamps deleted (log start %d)", l2.LogStartOffset())
	}
	now = t0 + 10*hour + 60_000
	if err := l2.Maintain(time.UnixMilli(now)); err != nil {
		t.Fatal(err)
	}
	if l2.LogStartOffset() == 0 {
		t.Fatal("segments without timestamps never expire")
	}
}
