package storage

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// latestByKey reads the whole log and returns key -> (offset, value) of
// the newest record per key, plus the total records seen.
func latestByKey(t *testing.T, l *Log) (map[string]string, int) {
	t.Helper()
	out := map[string]string{}
	n := 0
	for _, h := range readAllRecords(t, l) {
		n++
		if h.Value == nil {
			out[string(h.Key)] = "<nil>"
		} else {
			out[string(h.Key)] = string(h.Value)
		}
	}
	return out, n
}

type readRecord struct {
	Offset     int64
	Timestamp  int64
	Key, Value []byte
}

// readAllRecords decodes every record the log serves, checking offsets
// strictly increase.
func readAllRecords(t *testing.T, l *Log) []readRecord {
	t.Helper()
	var out []readRecord
	last := int64(-1)
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(res.Data) == 0 {
			break
		}
		data := res.Data
		for len(data) > 0 {
			h, err := validateBatch(data, 1<<30, false)
			if err != nil {
				t.Fatalf("served invalid batch: %v", err)
			}
			body, err := decompress(h.Codec(), data[batchHeaderSize:h.Size()], 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if !h.IsControl() {
				err = forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
					o := h.BaseOffset + int64(r.OffsetDelta)
					if o <= last {
						return fmt.Errorf("offset %d after %d", o, last)
					}
					last = o
					if o >= off {
						out = append(out, readRecord{o, h.BaseTimestamp + r.TimestampDelta64, r.Key, r.Value})
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			off = h.LastOffset() + 1
			data = data[h.Size():]
		}
	}
	return out
}

func TestCompaction(t *testing.T) {
	for _, codec := range []int{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		t.Run(fmt.Sprint("codec", codec), func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.CleanupCompact, cfg.CleanupDelete = true, false
			cfg.SegmentBytes = 2048
			cfg.DeleteRetention = time.Hour
			now := int64(10_000_000)
			clock := func() time.Time { return time.UnixMilli(now) }
			l, err := Open(dir, cfg, Options{Logger: testLogger(t), Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for i := 0; i < 300; i++ {
				k := fmt.Sprintf("key-%d", i%17)
				v := []byte(fmt.Sprintf("val-%d", i))
				if i%29 == 0 {
					v = nil
				}
				b := makeBatch(t, batchSpec{Records: []rec{{Key: []byte(k), Value: v}}, BaseTimestamp: now, ProducerID: -1, Codec: codec})
				if _, err := l.Append(b, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
				if v == nil {
					want[k] = "<nil>"
				} else {
					want[k] = string(v)
				}
			}
			l.SetHighWatermark(l.LogEndOffset())
			leo := l.LogEndOffset()
			sizeBefore := l.Size()
			if err := l.Maintain(clock()); err != nil {
				t.Fatal(err)
			}
			if l.Size() >= sizeBefore/2 {
				t.Fatalf("compaction did not shrink the log: %d -> %d", sizeBefore, l.Size())
			}
			got, _ := latestByKey(t, l)
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("key %s: got %q want %q", k, got[k], v)
				}
			}
			if l.LogEndOffset() != leo {
				t.Fatal("LEO changed")
			}
			// Reopen: everything still there, offsets unchanged.
			l.Close()
			l, err = Open(dir, cfg, Options{Logger: testLogger(t), Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			got2, _ := latestByKey(t, l)
			if fmt.Sprint(got2) != fmt.Sprint(got) {
				t.Fatalf("after reopen: %v vs %v", got2, got)
			}
			// A tombstone lives delete.retention.ms after the cleaner first
			// sees it; two more rounds later every old one is gone.
			for round := 0; round < 2; round++ {
				now += 2 * time.Hour.Milliseconds()
				for i := 0; i < 20; i++ { // more dirty data, and a roll
					l.Append(makeBatch(t, batchSpec{Records: []rec{{Key: []byte("other"), Value: make([]byte, 200)}}, BaseTimestamp: now, ProducerID: -1, Codec: codec}), AppendOptions{})
				}
				l.SetHighWatermark(l.LogEndOffset())
				if err := l.Maintain(clock()); err != nil {
					t.Fatal(err)
				}
			}
			recs := readAllRecords(t, l)
			for _, r := range recs {
				if r.Value == nil && r.Offset < leo {
					t.Fatalf("tombstone at %d survived its delete horizon", r.Offset)
				}
			}
			l.Close()
		})
	}
}
