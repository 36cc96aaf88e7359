package storage

import (
	"encoding/binary"
	"errors"
	"testing"
)

// markerBatch builds a transaction marker (control batch) as a
// coordinator writes it.
func markerBatch(t *testing.T, pid int64, epoch int16, commit bool) []byte {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	val := make([]byte, 6)
	binary.BigEndian.PutUint32(val[2:], 5)
	return makeBatch(t, batchSpec{Records: []rec{{Key: key, Value: val}}, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: -1, Control: true, Transactional: true})
}

func txnBatch(t *testing.T, pid int64, seq int32) []byte {
	return makeBatch(t, batchSpec{Records: []rec{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte("k2"), Value: []byte("v2")}}, ProducerID: pid, BaseSequence: seq, Transactional: true})
}

func TestTransactionsLastStableOffsetAndAborts(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir, DefaultConfig())
	mustAppend := func(b []byte, origin AppendOrigin) AppendInfo {
		t.Helper()
		info, err := l.Append(b, AppendOptions{Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		return info
	}
	mustAppend(simpleBatch(t, 2, "plain", 1), OriginClient) // 0-1
	a := mustAppend(txnBatch(t, 10, 0), OriginClient)       // 2-3, txn of 10 opens
	mustAppend(txnBatch(t, 11, 0), OriginClient)            // 4-5, txn of 11 opens
	if lso := l.LastStableOffset(); lso != a.BaseOffset {
		t.Fatalf("LSO %d, want %d (first open txn)", lso, a.BaseOffset)
	}
	if _, err := l.Append(markerBatch(t, 10, 0, false), AppendOptions{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("client wrote a marker: %v", err)
	}
	abort := mustAppend(markerBatch(t, 10, 0, false), OriginCoordinator) // 6: abort 10
	if lso := l.LastStableOffset(); lso != 4 {
		t.Fatalf("LSO %d after abort of 10, want 4", lso)
	}
	mustAppend(markerBatch(t, 11, 0, true), OriginCoordinator) // 7: commit 11
	if lso, hw := l.LastStableOffset(), l.HighWatermark(); lso != hw {
		t.Fatalf("LSO %d != HWM %d with no open transaction", lso, hw)
	}
	check := func() {
		t.Helper()
		got := l.AbortedTransactions(0, l.LogEndOffset())
		if len(got) != 1 || got[0].ProducerID != 10 || got[0].FirstOffset != 2 || got[0].LastOffset != abort.BaseOffset {
			t.Fatalf("aborted = %+v", got)
		}
		if got := l.AbortedTransactions(7, 8); len(got) != 0 {
			t.Fatalf("aborted after the marker = %+v", got)
		}
	}
	check()
	// Survives restarts: from the snapshot, and rebuilt without one.
	l.Close()
	l = openTest(t, dir, DefaultConfig())
	check()
	mustAppend(txnBatch(t, 12, 0), OriginClient) // 8-9 open
	l.closeNoFlush()
	removeGlob(t, dir, "*"+extSnapshot)
	l = openTest(t, dir, DefaultConfig())
	defer l.Close()
	check()
	if fu := l.firstUnstable.Load(); fu != 8 {
		t.Fatalf("open transaction not rebuilt: first unstable %d", fu)
	}
	// Markers must decode.
	bad := makeBatch(t, batchSpec{Records: []rec{{Key: []byte{0}}}, ProducerID: 12, BaseSequence: -1, Control: true})
	if _, err := l.Append(bad, AppendOptions{Origin: OriginCoordinator}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("malformed marker: %v", err)
	}
}

// A follower appends the leader's batches as they are: offsets (with the
// gaps compaction leaves), leader epochs, producer state.
func TestAppendReplicated(t *testing.T) {
	l := openTest(t, t.TempDir(), DefaultConfig())
	defer l.Close()
	var data []byte
	for i, base := range []int64{0, 3, 10, 12} {
		b := makeBatch(t, batchSpec{Records: []rec{{Value: []byte("a")}, {Value: []byte("b")}}, ProducerID: 4, BaseSequence: int32(2 * i)})
		setBaseOffset(b, base)
		setLeaderEpoch(b, int32(1+i/2))
		data = append(data, b...)
	}
	if err := l.AppendReplicated(data, 9); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 14 {
		t.Fatalf("LEO %d", l.LogEndOffset())
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 10 {
		t.Fatalf("epoch 1 ends at %d (%d)", off, e)
	}
	res, err := l.Read(5, 1<<20, 14)
	if err != nil || len(splitBatches(t, res.Data)) != 2 {
		t.Fatalf("read in a gap: %v", err)
	}
	// Overlapping the log end is refused; so is a corrupt batch.
	b := makeBatch(t, batchSpec{Records: []rec{{Value: []byte("c")}}, ProducerID: -1})
	setBaseOffset(b, 13)
	if err := l.AppendReplicated(b, 2); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("overlap: %v", err)
	}
	setBaseOffset(b, 14)
	b[len(b)-1] ^= 1
	if err := l.AppendReplicated(b, 2); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("corrupt: %v", err)
	}
	// The replicated producer state dedupes a client retry.
	dup := makeBatch(t, batchSpec{Records: []rec{{Value: []byte("a")}, {Value: []byte("b")}}, ProducerID: 4, BaseSequence: 6})
	if info, err := l.Append(dup, AppendOptions{}); err != nil || !info.Duplicate || info.BaseOffset != 12 {
		t.Fatalf("retry after replication: %+v %v", info, err)
	}
}
