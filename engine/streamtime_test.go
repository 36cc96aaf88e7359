package engine

import (
	"encoding/base64"
	"errors"
	"testing"
)

func TestStreamTimeMetadata(t *testing.T) {
	for _, ts := range []int64{0, 1, 1_700_000_000_123, 1<<63 - 1} {
		got, ok, err := DecodeStreamTime(encodeStreamTime(ts))
		if err != nil || !ok || got != ts {
			t.Errorf("round trip %d: %d %v %v", ts, got, ok, err)
		}
	}
	// Kafka Streams' encoding of partition time 1000 (version 1), and a
	// version 2 value with processor metadata after the time.
	ks1 := base64.StdEncoding.EncodeToString([]byte{1, 0, 0, 0, 0, 0, 0, 3, 0xe8})
	ks2 := base64.StdEncoding.EncodeToString([]byte{2, 0, 0, 0, 0, 0, 0, 3, 0xe8, 0, 0, 0, 0})
	for _, md := range []string{ks1, ks2} {
		if got, ok, err := DecodeStreamTime(md); err != nil || !ok || got != 1000 {
			t.Errorf("%q: %d %v %v", md, got, ok, err)
		}
	}
	// Metadata other clients commit is not ours: ignored, no error.
	for _, md := range []string{"", "kgo-member-1-7d8a", "consumer-x-1", base64.StdEncoding.EncodeToString([]byte{9, 1})} {
		if _, ok, err := DecodeStreamTime(md); ok || err != nil {
			t.Errorf("%q: ok=%v err=%v, want ignored", md, ok, err)
		}
	}
	// Ours but broken: an error that says so.
	for _, b := range [][]byte{{1, 0, 0}, {2}, {1, 0x80, 0, 0, 0, 0, 0, 0, 0}} {
		md := base64.StdEncoding.EncodeToString(b)
		if _, ok, err := DecodeStreamTime(md); ok || !errors.Is(err, ErrStreamTimeMetadata) {
			t.Errorf("%x: ok=%v err=%v, want ErrStreamTimeMetadata", b, ok, err)
		}
	}
}

// FuzzStreamTimeMetadata: commit metadata comes from the broker, written by
// any client of the group.
func FuzzStreamTimeMetadata(f *testing.F) {
	f.Add(encodeStreamTime(1_700_000_000_000))
	f.Add("kgo-member")
	f.Add("AgAAAAAAAAPoAAAAAA==")
	f.Add("AQ==")
	f.Fuzz(func(t *testing.T, md string) {
		ts, ok, err := DecodeStreamTime(md)
		if ok && (err != nil || ts < 0) {
			t.Fatalf("ok with %d, %v", ts, err)
		}
		if ok && ts >= 0 {
			if back, ok2, _ := DecodeStreamTime(encodeStreamTime(ts)); !ok2 || back != ts {
				t.Fatalf("re-encode %d: %d", ts, back)
			}
		}
	})
}
