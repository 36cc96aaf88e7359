package storage

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func compactedConfig() Config {
	cfg := DefaultConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	return cfg
}

// rebuildBatch re-encodes a test batch with body records given by the
// caller (raw, possibly inconsistent with the header) and fixes the CRC.
func forgeBatch(t *testing.T, codec int, count int32, records []kmsg.Record) []byte {
	t.Helper()
	var body []byte
	for _, r := range records {
		body = appendRecord(body, r)
	}
	if codec != codecNone {
		c, err := compress(codec, body)
		if err != nil {
			t.Fatal(err)
		}
		body = c
	}
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec), LastOffsetDelta: count - 1,
		FirstTimestamp: 1000, MaxTimestamp: 1000, ProducerID: -1, FirstSequence: -1, NumRecords: count, Records: body}
	b.Length = int32(49 + len(body))
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], crcTable))
	return raw
}

func TestCompactedTopicRejectsNullKeys(t *testing.T) {
	for _, codec := range []int{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		l := openTest(t, t.TempDir(), compactedConfig())
		good := makeBatch(t, batchSpec{Records: []rec{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte{}, Value: []byte("empty key is a key")}}, BaseTimestamp: 1000, ProducerID: -1, Codec: codec})
		if _, err := l.Append(good, AppendOptions{}); err != nil {
			t.Fatalf("codec %d: keyed batch refused: %v", codec, err)
		}
		leo := l.LogEndOffset()
		// Two batches in one append; the second's third record has no key.
		bad := append(makeBatch(t, batchSpec{Records: []rec{{Key: []byte("b"), Value: []byte("2")}}, BaseTimestamp: 1000, ProducerID: -1, Codec: codec}),
			makeBatch(t, batchSpec{Records: []rec{{Key: []byte("c")}, {Key: []byte("d")}, {Key: nil, Value: []byte("no key")}}, BaseTimestamp: 1000, ProducerID: -1, Codec: codec})...)
		_, err := l.Append(bad, AppendOptions{})
		var re *InvalidRecordError
		if !errors.Is(err, ErrInvalidRecord) || !errors.As(err, &re) || re.Batch != 1 || re.Record != 2 {
			t.Fatalf("codec %d: null key: %v, want ErrInvalidRecord naming batch 1, record 2", codec, err)
		}
		if l.LogEndOffset() != leo {
			t.Fatalf("codec %d: refused append moved the log end from %d to %d", codec, leo, l.LogEndOffset())
		}
		l.Close()
	}
	// Other topics take keyless records without looking at them.
	l := openTest(t, t.TempDir(), DefaultConfig())
	defer l.Close()
	if _, err := l.Append(makeBatch(t, batchSpec{Records: []rec{{Value: []byte("v")}}, ProducerID: -1, Codec: codecGzip}), AppendOptions{}); err != nil {
		t.Fatalf("keyless record on a delete topic: %v", err)
	}
}

func TestCompactedTopicChecksDecodedRecords(t *testing.T) {
	recs := func(deltas ...int32) []kmsg.Record {
		var out []kmsg.Record
		for _, d := range deltas {
			out = append(out, kmsg.Record{OffsetDelta: d, Key: []byte("k"), Value: []byte("v")})
		}
		return out
	}
	cases := []struct {
		name  string
		batch func(t *testing.T) []byte
		want  error
	}{
		{"compressed, count above the body", func(t *testing.T) []byte { return forgeBatch(t, codecLZ4, 4, recs(0, 1, 2)) }, ErrCorruptBatch},
		{"compressed, count below the body", func(t *testing.T) []byte { return forgeBatch(t, codecZstd, 2, recs(0, 1, 2)) }, ErrCorruptBatch},
		{"compressed, offset deltas with a gap", func(t *testing.T) []byte { return forgeBatch(t, codecGzip, 2, recs(0, 2)) }, ErrInvalidRecord},
		{"uncompressed, count below the body", func(t *testing.T) []byte { return forgeBatch(t, codecNone, 2, recs(0, 1, 2)) }, ErrCorruptBatch},
		{"compressed garbage", func(t *testing.T) []byte {
			b := forgeBatch(t, codecNone, 1, recs(0))
			b[offAttributes+1] |= codecSnappy
			binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], crcTable))
			return b
		}, ErrCorruptBatch},
	}
	l := openTest(t, t.TempDir(), compactedConfig())
	defer l.Close()
	for _, tc := range cases {
		_, err := l.Append(tc.batch(t), AppendOptions{})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if l.LogEndOffset() != 0 {
			t.Fatalf("%s: refused batch was written", tc.name)
		}
	}
	if _, err := l.Append(forgeBatch(t, codecLZ4, 3, recs(0, 1, 2)), AppendOptions{}); err != nil {
		t.Fatalf("consistent batch: %v", err)
	}
}

func TestCompactedTopicDecompressionLimit(t *testing.T) {
	big := make([]byte, 64<<10) // compresses to almost nothing
	l, err := Open(t.TempDir(), compactedConfig(), Options{Logger: testLogger(t), MaxDecompressedBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = l.Append(makeBatch(t, batchSpec{Records: []rec{{Key: []byte("k"), Value: big}}, ProducerID: -1, Codec: codecZstd}), AppendOptions{})
	if !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("batch decompressing past MaxDecompressedBytes: %v, want a refusal", err)
	}
}

// FuzzCompactedAppend: appends to a compacted topic never panic, and
// whatever is accepted decodes to exactly RecordCount keyed records.
func FuzzCompactedAppend(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(makeBatch(f, batchSpec{Records: []rec{{Value: []byte("no key")}}, ProducerID: -1, Codec: codecLZ4}))
	f.Add(makeBatch(f, batchSpec{Records: []rec{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte("k2")}}, ProducerID: -1, Codec: codecSnappy}))
	l, err := Open(f.TempDir(), compactedConfig(), Options{Logger: quietLogger(), MaxBatchBytes: 1 << 20, MaxDecompressedBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(nil), data...)
		if _, err := l.Append(in, AppendOptions{}); err != nil {
			return
		}
		for d := in; len(d) > 0; {
			h := parseHeader(d)
			body, err := decompress(h.Codec(), d[batchHeaderSize:h.Size()], 1<<20)
			if err != nil {
				t.Fatalf("accepted batch does not decompress: %v", err)
			}
			n := int32(0)
			if err := forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
				if r.Key == nil {
					t.Fatalf("accepted a record without a key")
				}
				n++
				return nil
			}); err != nil || n != h.RecordCount {
				t.Fatalf("accepted batch decodes to %d of %d records: %v", n, h.RecordCount, err)
			}
			d = d[h.Size():]
		}
	})
}
