package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rec is a record for test batches.
type rec struct {
	Key, Value []byte
	TsDelta    int64
}

// batchSpec describes a test batch built with kmsg.
type batchSpec struct {
	Records       []rec
	BaseTimestamp int64
	ProducerID    int64 // -1 for none
	ProducerEpoch int16
	BaseSequence  int32
	Codec         int
	Transactional bool
	Control       bool
}

// makeBatch encodes a RecordBatch v2 with kmsg, computing the CRC.
func makeBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	var body []byte
	var maxTs = s.BaseTimestamp
	for i, r := range s.Records {
		body = appendRecord(body, kmsg.Record{TimestampDelta64: r.TsDelta, OffsetDelta: int32(i), Key: r.Key, Value: r.Value})
		if s.BaseTimestamp+r.TsDelta > maxTs {
			maxTs = s.BaseTimestamp + r.TsDelta
		}
	}
	if s.Codec != codecNone {
		c, err := compress(s.Codec, body)
		if err != nil {
			t.Fatal(err)
		}
		body = c
	}
	attrs := int16(s.Codec)
	if s.Transactional {
		attrs |= attrTransactional
	}
	if s.Control {
		attrs |= attrControl
	}
	pid := s.ProducerID
	seq := s.BaseSequence
	if pid < 0 {
		seq = -1
	}
	b := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2, Attributes: attrs,
		LastOffsetDelta: int32(len(s.Records) - 1), FirstTimestamp: s.BaseTimestamp, MaxTimestamp: maxTs,
		ProducerID: pid, ProducerEpoch: s.ProducerEpoch, FirstSequence: seq,
		NumRecords: int32(len(s.Records)), Records: body,
	}
	b.Length = int32(49 + len(body))
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[offCRC:], crc32.Checksum(raw[offAttributes:], crcTable))
	return raw
}

// simpleBatch is n records "k<i>"/"v<i>-<tag>" of valueSize bytes each.
func simpleBatch(t testing.TB, n int, tag string, ts int64) []byte {
	t.Helper()
	rs := make([]rec, n)
	for i := range rs {
		rs[i] = rec{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d-%s", i, tag))}
	}
	return makeBatch(t, batchSpec{Records: rs, BaseTimestamp: ts, ProducerID: -1})
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testLogger logs through t.Log, so recovery messages show with -v.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// splitBatches splits concatenated batches, failing on anything malformed.
func splitBatches(t testing.TB, data []byte) []header {
	t.Helper()
	var hs []header
	for len(data) > 0 {
		h, err := validateBatch(data, 1<<30, false)
		if err != nil {
			t.Fatalf("served data holds an invalid batch: %v", err)
		}
		hs = append(hs, h)
		data = data[h.Size():]
	}
	return hs
}

func removeGlob(t testing.TB, dir, pattern string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, p := range m {
		os.Remove(p)
	}
}
