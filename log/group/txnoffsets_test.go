package group

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
)

// txnLog is storageLog plus what the broker's adapter does for
// transactional batches: the producer's next sequence (the transaction
// check against the coordinator is the broker's, tested there).
type txnLog struct{ storageLog }

func (s txnLog) Append(batch []byte) error {
	if batch[21+1]&attrTransactional != 0 && batch[22]&0x20 == 0 {
		pid := int64(binary.BigEndian.Uint64(batch[43:]))
		epoch := int16(binary.BigEndian.Uint16(batch[51:]))
		seq := int32(0)
		for _, ps := range s.l.Producers() {
			if ps.ProducerID == pid && ps.Epoch == epoch && ps.LastSequence >= 0 {
				seq = ps.LastSequence + 1
			}
		}
		binary.BigEndian.PutUint32(batch[53:], uint32(seq))
		binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32c))
	}
	return s.storageLog.Append(batch)
}

func openTxnLogs(t *testing.T, dir string) []PartitionLog {
	logs := openLogs(t, dir)
	for i, l := range logs {
		logs[i] = txnLog{l.(storageLog)}
	}
	return logs
}

// writeMarker appends a transaction marker for pid to the group's
// partition, as the transaction coordinator does, and reports it.
func writeMarker(t *testing.T, c *Coordinator, logs []PartitionLog, group string, pid int64, commit bool) {
	t.Helper()
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	b := encodeProducerBatch([]kv{{key: key, value: []byte{0, 0, 0, 0, 0, 0}}}, 1, pid, 0)
	b[22] |= 0x20 // control
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32c))
	p := c.PartitionFor(group)
	if _, err := logs[p].(txnLog).l.Append(b, storage.AppendOptions{Origin: storage.OriginCoordinator}); err != nil {
		t.Fatal(err)
	}
	c.CompleteTxn(p, pid, commit)
}

func txnCommit(c *Coordinator, group string, pid int64, member string, gen int32, offset int64) int16 {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.SetVersion(3)
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = "tx", group, pid, 0
	r.MemberID, r.Generation = member, gen
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return c.TxnOffsetCommit(r, nil).Topics[0].Partitions[0].ErrorCode
}

func plainCommit(t *testing.T, c *Coordinator, group string, offset int64) {
	t.Helper()
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Group, r.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = offset
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	if code := c.OffsetCommit(r, nil).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("offset commit: %d", code)
	}
}

// fetchT0 returns the committed offset of t[0] and its error code.
func fetchT0(c *Coordinator, group string, requireStable bool) (int64, int16) {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.SetVersion(7)
	r.Group, r.RequireStable = group, requireStable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	r.Topics = append(r.Topics, rt)
	p := c.OffsetFetch(r).Topics[0].Partitions[0]
	return p.Offset, p.ErrorCode
}

// TestTxnOffsetsVisibleOnCommit: transactional offsets are invisible (and
// unstable to KIP-447 consumers) until the commit marker, dropped on abort,
// and replayed the same way after a restart.
func TestTxnOffsetsVisibleOnCommit(t *testing.T) {
	dir := t.TempDir()
	logs := openTxnLogs(t, dir)
	c := newCoordinator(t, logs)
	if code := txnCommit(c, "g", 5, "", -1, 10); code != 0 {
		t.Fatalf("txn commit: %d", code)
	}
	if o, code := fetchT0(c, "g", true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("require_stable fetch during the transaction: %d %d", o, code)
	}
	if o, code := fetchT0(c, "g", false); code != 0 || o != -1 {
		t.Fatalf("plain fetch during the transaction: %d %d", o, code)
	}
	writeMarker(t, c, logs, "g", 5, true)
	if o, code := fetchT0(c, "g", true); code != 0 || o != 10 {
		t.Fatalf("after commit: %d %d", o, code)
	}
	if code := txnCommit(c, "g", 5, "", -1, 20); code != 0 {
		t.Fatal(code)
	}
	writeMarker(t, c, logs, "g", 5, false)
	if o, _ := fetchT0(c, "g", true); o != 10 {
		t.Fatalf("after abort: %d, want 10", o)
	}
	// A plain commit written after a transactional one wins over it.
	if code := txnCommit(c, "g", 5, "", -1, 15); code != 0 {
		t.Fatal(code)
	}
	plainCommit(t, c, "g", 16)
	writeMarker(t, c, logs, "g", 5, true)
	if o, _ := fetchT0(c, "g", true); o != 16 {
		t.Fatalf("plain commit after the transactional one: %d, want 16", o)
	}
	plainCommit(t, c, "g", 10)
	// A third transaction is open across a restart, then committed.
	if code := txnCommit(c, "g", 5, "", -1, 30); code != 0 {
		t.Fatal(code)
	}
	c.Close()
	for _, l := range logs {
		l.(txnLog).l.Close()
	}
	logs = openTxnLogs(t, dir)
	c = newCoordinator(t, logs)
	if o, code := fetchT0(c, "g", true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("open transaction after restart: %d %d", o, code)
	}
	if o, _ := fetchT0(c, "g", false); o != 10 {
		t.Fatalf("committed offset after restart: %d, want 10", o)
	}
	p := c.PartitionFor("g")
	writeMarker(t, c, logs, "g", 5, true)
	c.Close()
	for _, l := range logs {
		l.(txnLog).l.Close()
	}
	c = newCoordinator(t, openTxnLogs(t, dir))
	if o, code := fetchT0(c, "g", true); code != 0 || o != 30 {
		t.Fatalf("after the marker and a restart: %d %d (partition %d)", o, code, p)
	}
}

// TestTxnOffsetCommitFencing: KIP-447 — a member id must be in the group
// and a generation must be current.
func TestTxnOffsetCommitFencing(t *testing.T) {
	logs := openTxnLogs(t, t.TempDir())
	c := newCoordinator(t, logs)
	j := join(t, c, "g", nil)
	if j.ErrorCode != 0 {
		t.Fatalf("join: %d", j.ErrorCode)
	}
	if code := txnCommit(c, "g", 5, "stranger", j.Generation, 1); code != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", code)
	}
	if code := txnCommit(c, "g", 5, j.MemberID, j.Generation+1, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("wrong generation: %d", code)
	}
	if code := txnCommit(c, "g", 5, j.MemberID, j.Generation, 1); code != 0 {
		t.Fatalf("current member and generation: %d", code)
	}
}
