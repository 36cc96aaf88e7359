package txn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// partitionLog is a real storage log used as a __transaction_state
// partition (StateLog) or as a data partition that receives markers.
type partitionLog struct{ l *storage.Log }

func (p partitionLog) Append(batch []byte) error {
	_, err := p.l.Append(batch, storage.AppendOptions{Origin: storage.OriginCoordinator})
	if err == nil {
		p.l.SetHighWatermark(p.l.LogEndOffset())
	}
	return err
}

func (p partitionLog) Scan(ctx context.Context, fn func([]byte) error) error {
	for off, end := p.l.LogStartOffset(), p.l.LogEndOffset(); off < end; {
		res, err := p.l.Read(off, 1<<20, end)
		if err != nil {
			return err
		}
		next := nextOffset(res.Data)
		if next <= off {
			return nil
		}
		if err := fn(res.Data); err != nil {
			return err
		}
		off = next
	}
	return nil
}

// testBroker holds data partitions as real storage logs under one
// directory; fail makes a partition's marker writes fail (an offline
// partition).
type testBroker struct {
	t   *testing.T
	dir string

	mu      sync.Mutex
	logs    map[TopicPartition]*storage.Log
	fail    map[TopicPartition]bool
	nextPID int64
}

func newTestBroker(t *testing.T, dir string) *testBroker {
	b := &testBroker{t: t, dir: dir, logs: map[TopicPartition]*storage.Log{}, fail: map[TopicPartition]bool{}, nextPID: 1000}
	t.Cleanup(b.close)
	return b
}

func (b *testBroker) log(tp TopicPartition) *storage.Log {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.logs[tp]
	if l == nil {
		var err error
		l, err = storage.Open(filepath.Join(b.dir, fmt.Sprintf("%s-%d", tp.Topic, tp.Partition)), storage.DefaultConfig(), storage.Options{Logger: quiet})
		if err != nil {
			b.t.Fatal(err)
		}
		b.logs[tp] = l
	}
	return l
}

func (b *testBroker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tp, l := range b.logs {
		l.Close()
		delete(b.logs, tp)
	}
}

func (b *testBroker) setFail(tp TopicPartition, fail bool) {
	b.mu.Lock()
	b.fail[tp] = fail
	b.mu.Unlock()
}

var errOffline = errors.New("partition offline")

func (b *testBroker) WriteMarker(tp TopicPartition, pid int64, epoch int16, commit bool) error {
	b.mu.Lock()
	fail := b.fail[tp]
	b.mu.Unlock()
	if fail {
		return errOffline
	}
	return partitionLog{b.log(tp)}.Append(markerBatch(pid, epoch, commit))
}

func (b *testBroker) PartitionExists(topic string, partition int32) bool { return partition < 4 }

func (b *testBroker) NewProducerID() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextPID++
	return b.nextPID, nil
}

// markers returns the (producer id, epoch, commit) of every marker in tp.
func (b *testBroker) markers(tp TopicPartition) []string {
	var out []string
	l := b.log(tp)
	err := partitionLog{l}.Scan(context.Background(), func(data []byte) error {
		for len(data) >= 61 {
			n := int(binary.BigEndian.Uint32(data[8:12]))
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(data[:12+n]); err != nil {
				return err
			}
			data = data[12+n:]
			if rb.Attributes&0x20 == 0 {
				continue
			}
			var r kmsg.Record
			if err := r.ReadFrom(rb.Records); err != nil {
				return err
			}
			kind := "abort"
			if binary.BigEndian.Uint16(r.Key[2:]) == 1 {
				kind = "commit"
			}
			out = append(out, fmt.Sprintf("%d/%d/%s", rb.ProducerID, rb.ProducerEpoch, kind))
		}
		return nil
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func markerBatch(pid int64, epoch int16, commit bool) []byte {
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	rec := kmsg.Record{Key: key, Value: []byte{0, 0, 0, 0, 0, 0}}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	rb := kmsg.RecordBatch{Magic: 2, Attributes: 0x30, ProducerID: pid, ProducerEpoch: epoch, FirstSequence: -1,
		FirstTimestamp: 1, MaxTimestamp: 1, NumRecords: 1, Records: rec.AppendTo(nil)}
	out := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a coordinator over two real __transaction_state partitions
// and a testBroker, all under one directory, so that a test can "restart"
// it by opening a new one on the same directory.
type fixture struct {
	t      *testing.T
	dir    string
	clock  *clock
	broker *testBroker
	state  []*storage.Log
	c      *Coordinator
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, dir: t.TempDir(), clock: &clock{now: time.UnixMilli(1_700_000_000_000)}}
	f.open()
	return f
}

func (f *fixture) open() {
	f.t.Helper()
	next := int64(1000)
	if f.broker != nil {
		next = f.broker.nextPID // producer ids are never reused, as the broker's are
	}
	f.broker = newTestBroker(f.t, f.dir)
	f.broker.nextPID = next
	f.state = nil
	var logs []StateLog
	for i := 0; i < 2; i++ {
		l, err := storage.Open(filepath.Join(f.dir, fmt.Sprintf("__transaction_state-%d", i)), storage.DefaultConfig(), storage.Options{Logger: quiet})
		if err != nil {
			f.t.Fatal(err)
		}
		f.state = append(f.state, l)
		logs = append(logs, partitionLog{l})
	}
	cfg := DefaultConfig()
	cfg.Now = f.clock.Now
	f.c = New(cfg, logs, f.broker, quiet)
	if err := f.c.Load(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(f.close)
}

func (f *fixture) close() {
	if f.c == nil {
		return
	}
	f.c.Close()
	for _, l := range f.state {
		l.Close()
	}
	f.broker.close()
	f.c = nil
}

// restart closes everything and opens it again from disk.
func (f *fixture) restart() {
	f.close()
	f.open()
}

func (f *fixture) init(id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return f.c.InitProducerID(context.Background(), req)
}

func (f *fixture) mustInit(id string) (int64, int16) {
	f.t.Helper()
	r := f.init(id, -1, -1)
	if r.ErrorCode != 0 {
		f.t.Fatalf("init %s: error %d", id, r.ErrorCode)
	}
	return r.ProducerID, r.ProducerEpoch
}

func (f *fixture) add(id string, pid int64, epoch int16, parts ...TopicPartition) int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	for _, tp := range parts {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = tp.Topic, []int32{tp.Partition}
		req.Topics = append(req.Topics, rt)
	}
	resp := f.c.AddPartitionsToTxn(req)
	code := int16(0)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				code = rp.ErrorCode
			}
		}
	}
	return code
}

func (f *fixture) end(id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return f.c.EndTxn(context.Background(), req).ErrorCode
}

func (f *fixture) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return f.c.DescribeTransactions(req).TransactionStates[0]
}
