package broker_test

import (
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// txnProducer is a franz-go transactional producer that writes each
// record to the partition the record names.
func txnProducer(t *testing.T, addr, txnID string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, addr, append([]kgo.Opt{kgo.TransactionalID(txnID), kgo.RecordRetries(5),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

// produceTxn produces values to topic in one transaction and ends it.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, commit bool, values ...string) {
	t.Helper()
	ctx := testCtx(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 2), Key: []byte(fmt.Sprint(i)), Value: []byte(v)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit=%v): %v", commit, err)
	}
}

// readAll reads every record of topic with a real consumer at the given
// isolation level and returns the values sorted. It first appends a
// sentinel record to each partition (no transaction may be open): once the
// consumer has seen every sentinel it has seen everything before them.
func readAll(t *testing.T, addr, topic string, iso kgo.IsolationLevel) []string {
	t.Helper()
	ctx := testCtx(t)
	ends, err := newAdmin(t, addr).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	sentinel := fmt.Sprintf("sentinel-%d", time.Now().UnixNano())
	p := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	waiting := map[int32]bool{}
	ends.Each(func(o kadm.ListedOffset) {
		waiting[o.Partition] = true
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: o.Partition, Value: []byte(sentinel)}).FirstErr(); err != nil {
			t.Fatalf("produce sentinel: %v", err)
		}
	})
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []string
	for len(waiting) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: no sentinel yet from partitions %v; read %v", topic, waiting, out)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			switch v := string(r.Value); {
			case v == sentinel:
				delete(waiting, r.Partition)
			case strings.HasPrefix(v, "sentinel-"):
			default:
				out = append(out, v)
			}
		})
	}
	sort.Strings(out)
	return out
}

// rawRead reads one partition with Fetch requests at the given isolation
// level (1 read_committed) up to the end it may read (LSO or high
// watermark), dropping aborted records as consumers do, and returns the
// values and that end.
func rawRead(t *testing.T, cl *kgo.Client, topic string, partition int32, iso int8) ([]string, int64) {
	t.Helper()
	ctx := testCtx(t)
	var out []string
	for off := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, iso
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, off, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		fp := &resp.Topics[0].Partitions[0]
		if fp.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(fp.ErrorCode))
		}
		end := fp.HighWatermark
		if iso == 1 {
			end = fp.LastStableOffset
		}
		if len(fp.RecordBatches) == 0 {
			if off >= end {
				return out, end
			}
			t.Fatalf("fetch at %d returned nothing below end %d", off, end)
		}
		isoLevel := kgo.ReadUncommitted()
		if iso == 1 {
			isoLevel = kgo.ReadCommitted()
		}
		got, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: off, IsolationLevel: isoLevel, Topic: topic, Partition: partition}, fp, kgo.DefaultDecompressor(), nil)
		for _, r := range got.Records {
			out = append(out, string(r.Value))
		}
		off = lastOffset(fp.RecordBatches) + 1
	}
}

// lastOffset is the last offset of the last whole batch in data.
func lastOffset(data []byte) int64 {
	last := int64(-1)
	for len(data) >= 61 {
		n := int(uint32(data[8])<<24 | uint32(data[9])<<16 | uint32(data[10])<<8 | uint32(data[11]))
		if len(data) < 12+n {
			break
		}
		var b kmsg.RecordBatch
		if b.ReadFrom(data[:12+n]) == nil {
			last = b.FirstOffset + int64(b.LastOffsetDelta)
		}
		data = data[12+n:]
	}
	return last
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

func sorted(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func describeTxn(t *testing.T, adm *kadm.Client, id string) kadm.DescribedTransaction {
	t.Helper()
	d, err := adm.DescribeTransactions(testCtx(t), id)
	if err != nil {
		t.Fatalf("describe transaction %s: %v", id, err)
	}
	dt, ok := d[id]
	if !ok || dt.Err != nil {
		t.Fatalf("describe transaction %s: %+v", id, dt)
	}
	return dt
}

// TestTransactionsCommitAbortVisibility: committed transactions are seen by
// read_committed consumers, aborted ones only by read_uncommitted ones, and
// an open transaction holds back read_committed consumers (and the
// committed end offset) at its first offset until it ends.
func TestTransactionsCommitAbortVisibility(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "txn-vis", 2, nil)
	p := txnProducer(t, b.Addr, "vis-producer")
	plain := newClient(t, b.Addr, kgo.DefaultProduceTopic("txn-vis"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)

	committed1, aborted, committed2 := values("c1", 20), values("ab", 15), values("c2", 10)
	produceTxn(t, p, "txn-vis", true, committed1...)
	produceTxn(t, p, "txn-vis", false, aborted...)
	if err := plain.ProduceSync(ctx, &kgo.Record{Value: []byte("plain-0")}, &kgo.Record{Value: []byte("plain-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, p, "txn-vis", true, committed2...)

	plainVals := []string{"plain-0", "plain-1"}
	if got, want := readAll(t, b.Addr, "txn-vis", kgo.ReadCommitted()), sorted(committed1, committed2, plainVals); !equal(got, want) {
		t.Fatalf("read_committed saw %d records %v\nwant %d %v", len(got), got, len(want), want)
	}
	if got, want := readAll(t, b.Addr, "txn-vis", kgo.ReadUncommitted()), sorted(committed1, aborted, committed2, plainVals); !equal(got, want) {
		t.Fatalf("read_uncommitted saw %d records, want %d", len(got), len(want))
	}
	if dt := describeTxn(t, adm, "vis-producer"); dt.State != "CompleteCommit" || len(dt.Topics) != 0 {
		t.Fatalf("after the last commit: %+v", dt)
	}

	// An open transaction: its records and everything after them stay
	// invisible to read_committed until it commits.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	open := values("open", 5)
	for _, v := range open {
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: "txn-vis", Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("plain-after-open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dt := describeTxn(t, adm, "vis-producer")
	if dt.State != "Ongoing" || len(dt.Topics["txn-vis"]) == 0 {
		t.Fatalf("open transaction described as %+v", dt)
	}
	lts, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil || len(lts) != 1 {
		t.Fatalf("list ongoing transactions: %v %+v", err, lts)
	}
	stable, err := adm.ListCommittedOffsets(ctx, "txn-vis")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "txn-vis")
	if err != nil {
		t.Fatal(err)
	}
	so, _ := stable.Lookup("txn-vis", 0)
	eo, _ := end.Lookup("txn-vis", 0)
	if so.Offset >= eo.Offset {
		t.Fatalf("open transaction: last stable offset %d, high watermark %d; want LSO below it", so.Offset, eo.Offset)
	}
	// Partition 0 read raw: read_committed stops at the open
	// transaction, read_uncommitted sees it and the record after it.
	cl := newClient(t, b.Addr, kgo.MaxVersions(kversion.V3_0_0())) // Fetch by topic name
	rc, lso := rawRead(t, cl, "txn-vis", 0, 1)
	ru, hw := rawRead(t, cl, "txn-vis", 0, 0)
	if lso != so.Offset || hw != eo.Offset {
		t.Fatalf("fetch: LSO %d HW %d; ListOffsets: %d %d", lso, hw, so.Offset, eo.Offset)
	}
	for _, v := range rc {
		if strings.HasPrefix(v, "open-") || v == "plain-after-open" || strings.HasPrefix(v, "ab-") {
			t.Fatalf("read_committed saw %q during the open transaction", v)
		}
	}
	if len(ru)-len(rc) < len(open)+1 {
		t.Fatalf("read_uncommitted saw %d records, read_committed %d: the open transaction's are missing", len(ru), len(rc))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	want := sorted(committed1, committed2, plainVals, open, []string{"plain-after-open"})
	if got := readAll(t, b.Addr, "txn-vis", kgo.ReadCommitted()); !equal(got, want) {
		t.Fatalf("after commit read_committed saw %d records, want %d", len(got), len(want))
	}
}

// TestTransactionsRefuseUnaddedPartition: a transactional batch for a
// partition that is not in the producer's transaction is refused, so a
// transaction can never leave records behind its own marker.
func TestTransactionsRefuseUnaddedPartition(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "txn-raw", 1, nil)
	cl := newClient(t, b.Addr)
	ctx := testCtx(t)
	id := "raw-txn"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = &id, 60000
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		t.Fatalf("init producer id: %v %+v", err, ir)
	}
	// A transactional batch with no AddPartitionsToTxn.
	rec := kmsg.Record{Value: []byte("sneaky")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	batch := kmsg.RecordBatch{Magic: 2, Attributes: 0x10, ProducerID: ir.ProducerID, ProducerEpoch: ir.ProducerEpoch,
		FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(), NumRecords: 1, Records: rec.AppendTo(nil)}
	raw := batch.AppendTo(nil)
	fixBatch(raw)
	produce := func() int16 {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis, req.TransactionID = -1, 5000, &id
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "txn-raw"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = append([]byte(nil), raw...)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce outside the transaction: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = "txn-raw", []int32{0}
	add.Topics = append(add.Topics, at)
	ar, err := add.RequestWith(ctx, cl)
	if err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add partitions: %v %+v", err, ar)
	}
	if code := produce(); code != 0 {
		t.Fatalf("produce inside the transaction: %v", kerr.ErrorForCode(code))
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, ir.ProducerID, ir.ProducerEpoch, true
	if er, err := end.RequestWith(ctx, cl); err != nil || er.ErrorCode != 0 {
		t.Fatalf("end txn: %v %+v", err, er)
	}
	// The transaction is over: the same batch (next sequence) is refused.
	binaryPutSeq(raw, 1)
	if code := produce(); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce after the commit: %v, want INVALID_TXN_STATE", kerr.ErrorForCode(code))
	}
	if got := readAll(t, b.Addr, "txn-raw", kgo.ReadCommitted()); !equal(got, []string{"sneaky"}) {
		t.Fatalf("read_committed: %v", got)
	}
}

// TestTransactionsZombieFencing: a second producer with the same
// transactional id aborts the first one's open transaction and fences it:
// the zombie can neither produce nor commit, and only the new producer's
// records become visible.
func TestTransactionsZombieFencing(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "txn-zombie", 2, nil)
	ctx := testCtx(t)
	zombie := txnProducer(t, b.Addr, "shared-id")
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: "txn-zombie", Value: []byte("zombie-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := describeTxn(t, adm, "shared-id")

	fresh := txnProducer(t, b.Addr, "shared-id")
	produceTxn(t, fresh, "txn-zombie", true, "fresh-1", "fresh-2")
	after := describeTxn(t, adm, "shared-id")
	if after.ProducerID != before.ProducerID || after.ProducerEpoch <= before.ProducerEpoch {
		t.Fatalf("new producer: id %d epoch %d; before: id %d epoch %d", after.ProducerID, after.ProducerEpoch, before.ProducerID, before.ProducerEpoch)
	}

	// The zombie's writes now fail, and so does its commit.
	perr := zombie.ProduceSync(ctx, &kgo.Record{Topic: "txn-zombie", Value: []byte("zombie-2")}).FirstErr()
	cerr := zombie.EndTransaction(ctx, kgo.TryCommit)
	if perr == nil && cerr == nil {
		t.Fatal("the fenced producer produced and committed")
	}
	if !errors.Is(perr, kerr.InvalidProducerEpoch) && !errors.Is(perr, kerr.ProducerFenced) && !errors.Is(cerr, kerr.ProducerFenced) {
		t.Logf("zombie errors: produce %v, commit %v", perr, cerr)
	}
	if got := readAll(t, b.Addr, "txn-zombie", kgo.ReadCommitted()); !equal(got, []string{"fresh-1", "fresh-2"}) {
		t.Fatalf("read_committed: %v", got)
	}
	// The zombie's first record is in the log, aborted.
	if got := readAll(t, b.Addr, "txn-zombie", kgo.ReadUncommitted()); !equal(got, []string{"fresh-1", "fresh-2", "zombie-1"}) {
		t.Fatalf("read_uncommitted: %v", got)
	}
}

// TestTransactionTimeoutAbort: the coordinator aborts a transaction that
// outlives its timeout, with a bumped epoch, so that its records never
// become visible and its producer cannot commit them; the producer then
// recovers (KIP-588) and commits a new transaction.
func TestTransactionTimeoutAbort(t *testing.T) {
	cfg := writeConfig(t, "transaction.abort.timed.out.transaction.cleanup.interval.ms=100\n")
	b := startBroker(t, "--config", cfg)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "txn-timeout", 2, nil)
	ctx := testCtx(t)
	p := txnProducer(t, b.Addr, "slow-producer", kgo.TransactionTimeout(time.Second))
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "txn-timeout", Value: []byte("too-late")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	started := describeTxn(t, adm, "slow-producer")
	var dt kadm.DescribedTransaction
	for {
		dt = describeTxn(t, adm, "slow-producer")
		if dt.State == "CompleteAbort" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("transaction not aborted after its timeout: %+v", dt)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if dt.ProducerEpoch != started.ProducerEpoch+1 {
		t.Fatalf("timeout abort left epoch %d (was %d): the producer is not fenced", dt.ProducerEpoch, started.ProducerEpoch)
	}
	if err := p.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("committed a transaction the coordinator aborted")
	} else if !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("commit after timeout: %v, want INVALID_PRODUCER_EPOCH (recoverable)", err)
	}
	if err := p.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatalf("abort after timeout: %v", err)
	}
	produceTxn(t, p, "txn-timeout", true, "on-time")
	if got := readAll(t, b.Addr, "txn-timeout", kgo.ReadCommitted()); !equal(got, []string{"on-time"}) {
		t.Fatalf("read_committed: %v", got)
	}
}

// fixBatch sets a hand-built batch's length and CRC.
func fixBatch(b []byte) {
	putU32(b[8:], uint32(len(b)-12))
	putU32(b[17:], crc32c(b[21:]))
}

func binaryPutSeq(b []byte, seq int32) {
	putU32(b[53:], uint32(seq))
	fixBatch(b)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
