package storage

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func fuzzSeeds(t testing.TB) [][]byte {
	b1 := simpleBatch(t, 3, "seed", 1000)
	b2 := makeBatch(t, batchSpec{Records: []rec{{Key: []byte("k"), Value: []byte("v")}}, ProducerID: 5, BaseSequence: 0, Codec: codecGzip})
	b3 := makeBatch(t, batchSpec{Records: []rec{{Key: []byte("k"), Value: bytes.Repeat([]byte("x"), 500)}}, ProducerID: -1, Codec: codecZstd})
	bad := append([]byte(nil), b1...)
	bad[len(bad)-1] ^= 1
	huge := append([]byte(nil), b1...)
	binary.BigEndian.PutUint32(huge[offBatchLength:], 0x7fffffff)
	return [][]byte{b1, b2, b3, append(append([]byte(nil), b1...), b2...), bad, huge, b1[:30], {}, make([]byte, 61)}
}

// FuzzValidateBatch: validation never panics, never accepts a batch whose
// CRC does not match, and Append either accepts whole valid batches or
// refuses without writing.
func FuzzValidateBatch(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	l, err := Open(f.TempDir(), DefaultConfig(), Options{Logger: quietLogger(), MaxBatchBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, client := range []bool{true, false} {
			h, err := validateBatch(data, 1<<20, client)
			if err == nil {
				if h.Size() > len(data) || h.Size() < batchHeaderSize {
					t.Fatalf("accepted size %d of %d bytes", h.Size(), len(data))
				}
			}
		}
		before := l.LogEndOffset()
		in := append([]byte(nil), data...)
		info, err := l.Append(in, AppendOptions{})
		if err != nil {
			if l.LogEndOffset() != before {
				t.Fatalf("failed append moved the log end")
			}
			return
		}
		res, err := l.Read(info.BaseOffset, 1, l.LogEndOffset())
		if err != nil || len(res.Data) == 0 {
			t.Fatalf("appended batch not readable: %v", err)
		}
		// Decoding the records (as compaction would) must not panic either.
		for d := in; len(d) > 0; {
			h := parseHeader(d)
			if body, err := decompress(h.Codec(), d[batchHeaderSize:h.Size()], 1<<20); err == nil {
				forEachRecord(body, h.RecordCount, func(*kmsg.Record) error { return nil })
			}
			d = d[h.Size():]
		}
	})
}

// FuzzRecovery writes arbitrary bytes as a segment (after a valid prefix)
// and opens the log: recovery must not panic, must keep the valid prefix,
// and must serve only valid batches.
func FuzzRecovery(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, tail []byte, prefixBatches uint8) {
		dir := t.TempDir()
		var prefix []byte
		off := int64(0)
		for i := 0; i < int(prefixBatches%4); i++ {
			b := simpleBatch(t, 2, "p", 1000)
			setBaseOffset(b, off)
			off += 2
			prefix = append(prefix, b...)
		}
		data := append(append([]byte(nil), prefix...), tail...)
		if err := os.WriteFile(filepath.Join(dir, segmentName(0)+extLog), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Garbage index files too: they must be checked, not trusted.
		os.WriteFile(filepath.Join(dir, segmentName(0)+extIndex), tail, 0o644)
		os.WriteFile(filepath.Join(dir, segmentName(0)+extTimeIndex), tail, 0o644)
		l, err := Open(dir, DefaultConfig(), Options{Logger: quietLogger(), MaxBatchBytes: 1 << 20})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		if l.LogEndOffset() < off {
			t.Fatalf("valid prefix lost: LEO %d < %d", l.LogEndOffset(), off)
		}
		for o := l.LogStartOffset(); o < l.LogEndOffset(); {
			res, err := l.Read(o, 1<<16, l.LogEndOffset())
			if err != nil {
				t.Fatalf("read %d: %v", o, err)
			}
			if len(res.Data) == 0 {
				break
			}
			for d := res.Data; len(d) > 0; {
				h, err := validateBatch(d, 1<<20, false)
				if err != nil {
					t.Fatalf("served invalid batch: %v", err)
				}
				o = h.LastOffset() + 1
				d = d[h.Size():]
			}
		}
		l.OffsetForTimestamp(0)
		l.MaxTimestamp()
		if _, err := l.Append(simpleBatch(t, 1, "after", 1), AppendOptions{}); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// FuzzSnapshotAndCheckpoint: the small state files are untrusted too.
func FuzzSnapshotAndCheckpoint(f *testing.F) {
	ps := newProducerState()
	h := parseHeader(makeBatch(f, batchSpec{Records: []rec{{Value: []byte("v")}}, ProducerID: 9, BaseSequence: 0}))
	ps.update(&h, controlMarker{})
	f.Add(ps.encodeSnapshot(10))
	f.Add(checkpoint{RecoveryPoint: 1, HighWatermark: 2, LogStartOffset: 3, CleanerPoint: 4}.encode())
	f.Add(checkpoint{RecoveryPoint: 1, Clean: true, CleanActiveBase: 7, CleanActiveSize: 100}.encode())
	f.Add(encodeEpochs([]epochEntry{{1, 0}, {2, 10}}))
	f.Add(encodeManifest(0, []int64{0, 10}))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeSnapshot(data)
		decodeCheckpoint(data)
		decodeEpochs(data)
		decodeManifest(data)
	})
}

// FuzzDecompressRecords: decompression and record decoding (compaction,
// timestamp lookup) take producer bytes too; no panic, bounded output.
func FuzzDecompressRecords(f *testing.F) {
	body := appendRecord(nil, kmsg.Record{Key: []byte("k"), Value: []byte("v")})
	for codec := codecNone; codec <= codecZstd; codec++ {
		c, _ := compress(codec, body)
		f.Add(uint8(codec), c, int32(1))
	}
	f.Add(uint8(codecSnappy), []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}, int32(3))
	f.Fuzz(func(t *testing.T, codec uint8, data []byte, count int32) {
		out, err := decompress(int(codec%6), data, 1<<16)
		if err != nil {
			return
		}
		if len(out) > 1<<16 && codec%6 != codecNone {
			t.Fatalf("decompressed %d bytes past the limit", len(out))
		}
		forEachRecord(out, count, func(*kmsg.Record) error { return nil })
	})
}
