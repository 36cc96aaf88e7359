package txn

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	tpA = TopicPartition{"a", 0}
	tpB = TopicPartition{"b", 1}
)

func TestRecordRoundTrip(t *testing.T) {
	m := meta{producerID: 7, lastProducerID: 3, epoch: 12, lastEpoch: 11, timeoutMs: 60000, state: PrepareCommit,
		parts: []TopicPartition{{"a", 0}, {"a", 2}, {"b", 1}}, startMs: 100, updateMs: 200}
	id, got, err := decodeRecord(encodeKey("tx"), encodeValue(&m))
	if err != nil || id != "tx" {
		t.Fatalf("decode: %q %v", id, err)
	}
	if got.producerID != m.producerID || got.lastProducerID != m.lastProducerID || got.epoch != m.epoch ||
		got.lastEpoch != m.lastEpoch || got.timeoutMs != m.timeoutMs || got.state != m.state ||
		!slices.Equal(got.parts, m.parts) || got.startMs != m.startMs || got.updateMs != m.updateMs {
		t.Fatalf("round trip: %+v, want %+v", *got, m)
	}
	// A value as Kafka writes it (v0, no previous epoch) reads with none.
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID, v.ProducerEpoch, v.State = 9, 2, kmsg.TransactionState(CompleteAbort)
	_, got, err = decodeRecord(encodeKey("k"), v.AppendTo(nil))
	if err != nil || got.lastEpoch != noEpoch || got.state != CompleteAbort || got.epoch != 2 {
		t.Fatalf("kafka v0 value: %+v %v", got, err)
	}
	if _, m, err := decodeRecord(encodeKey("gone"), nil); err != nil || m != nil {
		t.Fatalf("tombstone: %+v %v", m, err)
	}
	if _, _, err := decodeRecord([]byte{0, 9, 0, 1, 'x'}, nil); !errors.Is(err, errBadRecord) {
		t.Fatalf("key version 9: %v", err)
	}
}

// TestInitProducerIDEpochs walks KIP-98/KIP-360 epoch handling.
func TestInitProducerIDEpochs(t *testing.T) {
	f := newFixture(t)
	pid, e0 := f.mustInit("tx")
	if e0 != 0 {
		t.Fatalf("first epoch %d", e0)
	}
	_, e1 := f.mustInit("tx") // a new producer instance: plain bump
	if e1 != 1 {
		t.Fatalf("second epoch %d", e1)
	}
	// KIP-360: the current owner resumes with its id and epoch.
	r := f.init("tx", pid, e1)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != 2 {
		t.Fatalf("resume: %+v", r)
	}
	// Its retry (the answer was lost) gets the same epoch again.
	if r := f.init("tx", pid, e1); r.ErrorCode != 0 || r.ProducerEpoch != 2 {
		t.Fatalf("resume retry: %+v", r)
	}
	// An older epoch, or another producer id, is fenced.
	if r := f.init("tx", pid, e0); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale epoch: %+v", r)
	}
	if r := f.init("tx", pid+99, 2); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("foreign producer id: %+v", r)
	}
	// Limits: the timeout.
	req := kmsg.NewPtrInitProducerIDRequest()
	id := "tx"
	req.TransactionalID, req.TransactionTimeoutMillis = &id, int32((16 * time.Minute).Milliseconds())
	if r := f.c.InitProducerID(context.Background(), req); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout beyond the maximum: %+v", r)
	}
	// All of it survives a restart.
	f.restart()
	if r := f.init("tx", pid, 2); r.ErrorCode != 0 || r.ProducerEpoch != 3 {
		t.Fatalf("resume after restart: %+v", r)
	}
	if r := f.init("tx", pid, 2); r.ErrorCode != 0 || r.ProducerEpoch != 3 {
		t.Fatalf("resume retry after restart (previous epoch from the log): %+v", r)
	}
}

// TestEpochExhaustionRotatesProducerID: one short of the int16 maximum the
// coordinator hands out a new producer id (KIP-360).
func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	f := newFixture(t)
	pid, _ := f.mustInit("tx")
	// Fast-forward the epoch through the log, as a long-lived id would.
	m := meta{producerID: pid, lastProducerID: noProducer, epoch: 1<<15 - 3, lastEpoch: noEpoch, timeoutMs: 60000, state: CompleteCommit, startMs: -1}
	sl := partitionLog{f.state[f.c.PartitionFor("tx")]}
	if err := sl.Append(encodeBatch(encodeKey("tx"), encodeValue(&m), 1)); err != nil {
		t.Fatal(err)
	}
	f.restart()
	_, e := f.mustInit("tx")
	if e != 1<<15-2 {
		t.Fatalf("epoch %d", e)
	}
	pid2, e2 := f.mustInit("tx")
	if pid2 == pid || e2 != 0 {
		t.Fatalf("exhausted epoch: producer id %d epoch %d, want a new id at epoch 0", pid2, e2)
	}
	// The old id is fenced, not confused with the new one.
	if err := f.c.VerifyAppend(pid, e, tpA); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("old producer id after rotation: %v", err)
	}
}

// TestCommitAndAbort: markers go to every partition of the transaction,
// then the Complete state; retries of a finished EndTxn succeed and a
// contradicting one is refused.
func TestCommitAndAbort(t *testing.T) {
	f := newFixture(t)
	pid, e := f.mustInit("tx")
	if code := f.end("tx", pid, e, true); code != kerr.InvalidTxnState.Code {
		t.Fatalf("EndTxn with no transaction: %d", code)
	}
	if code := f.add("tx", pid, e, tpA, tpB); code != 0 {
		t.Fatalf("add: %d", code)
	}
	if d := f.describe("tx"); d.State != "Ongoing" || len(d.Topics) != 2 {
		t.Fatalf("describe: %+v", d)
	}
	if err := f.c.VerifyAppend(pid, e, tpA); err != nil {
		t.Fatalf("verify an added partition: %v", err)
	}
	if err := f.c.VerifyAppend(pid, e, TopicPartition{"a", 3}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("verify a partition not added: %v", err)
	}
	if code := f.end("tx", pid, e, true); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	if d := f.describe("tx"); d.State != "CompleteCommit" || len(d.Topics) != 0 {
		t.Fatalf("after commit: %+v", d)
	}
	for _, tp := range []TopicPartition{tpA, tpB} {
		if got := f.broker.markers(tp); !slices.Equal(got, []string{"1001/0/commit"}) {
			t.Fatalf("markers of %v: %v", tp, got)
		}
	}
	if err := f.c.VerifyAppend(pid, e, tpA); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("verify after the commit: %v", err)
	}
	if code := f.end("tx", pid, e, true); code != 0 {
		t.Fatalf("commit retry: %d", code)
	}
	if code := f.end("tx", pid, e, false); code != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit: %d", code)
	}
	// The next transaction, aborted.
	if code := f.add("tx", pid, e, tpB); code != 0 {
		t.Fatalf("add: %d", code)
	}
	if code := f.end("tx", pid, e, false); code != 0 {
		t.Fatalf("abort: %d", code)
	}
	if got := f.broker.markers(tpB); !slices.Equal(got, []string{"1001/0/commit", "1001/0/abort"}) {
		t.Fatalf("markers of b: %v", got)
	}
	if got := f.broker.markers(tpA); len(got) != 1 {
		t.Fatalf("a partition outside the aborted transaction got markers: %v", got)
	}
	// Requests with the wrong producer.
	if code := f.add("tx", pid+1, e, tpA); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("add with another producer id: %d", code)
	}
	if code := f.add("nope", pid, e, tpA); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("add to an unknown transactional id: %d", code)
	}
}

// TestMarkerFailureRetried: an unwritable partition leaves the transaction
// decided but in PrepareCommit (CONCURRENT_TRANSACTIONS meanwhile); once it
// is writable the completion finishes, writing each marker once.
func TestMarkerFailureRetried(t *testing.T) {
	f := newFixture(t)
	pid, e := f.mustInit("tx")
	f.add("tx", pid, e, tpA, tpB)
	f.broker.setFail(tpB, true)
	if code := f.end("tx", pid, e, true); code != 0 {
		t.Fatalf("commit with an offline partition: %d (the outcome is decided)", code)
	}
	if d := f.describe("tx"); d.State != "PrepareCommit" || len(d.Topics) != 1 || d.Topics[0].Topic != "b" {
		t.Fatalf("while preparing (only b lacks its marker): %+v", d)
	}
	if code := f.add("tx", pid, e, tpA); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("add while completing: %d", code)
	}
	if r := f.init("tx", -1, -1); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init while completing: %+v", r)
	}
	f.broker.setFail(tpB, false)
	f.c.completeAll(context.Background())
	if d := f.describe("tx"); d.State != "CompleteCommit" {
		t.Fatalf("state after retry %s", d.State)
	}
	if a, b := f.broker.markers(tpA), f.broker.markers(tpB); len(a) != 1 || len(b) != 1 {
		t.Fatalf("markers: a %v, b %v", a, b)
	}
}

// TestRestartCompletesPrepare: a transaction found in PrepareCommit on
// load (the process died before its markers) is completed by Load.
func TestRestartCompletesPrepare(t *testing.T) {
	f := newFixture(t)
	pid, e := f.mustInit("tx")
	f.add("tx", pid, e, tpA, tpB)
	f.broker.setFail(tpA, true)
	f.broker.setFail(tpB, true)
	if code := f.end("tx", pid, e, true); code != 0 {
		t.Fatal(code)
	}
	f.restart()
	if d := f.describe("tx"); d.State != "CompleteCommit" {
		t.Fatalf("after restart: %s", d.State)
	}
	for _, tp := range []TopicPartition{tpA, tpB} {
		if got := f.broker.markers(tp); !slices.Equal(got, []string{"1001/0/commit"}) {
			t.Fatalf("markers of %v: %v", tp, got)
		}
	}
	// And an Ongoing transaction stays Ongoing across a restart (its
	// producer may carry on).
	f.add("tx", pid, e, tpA)
	f.restart()
	if d := f.describe("tx"); d.State != "Ongoing" {
		t.Fatalf("ongoing after restart: %s", d.State)
	}
	if err := f.c.VerifyAppend(pid, e, tpA); err != nil {
		t.Fatalf("verify after restart: %v", err)
	}
}

// TestTimeoutFencesAndProducerResumes: a transaction past its timeout is
// aborted with a bumped epoch; its producer gets INVALID_PRODUCER_EPOCH
// (which clients recover from) and may resume with its old epoch (KIP-588),
// unless another producer initialized since.
func TestTimeoutFencesAndProducerResumes(t *testing.T) {
	f := newFixture(t)
	pid, e := f.mustInit("tx")
	f.add("tx", pid, e, tpA)
	f.clock.advance(59 * time.Second)
	if n := f.c.AbortTimedOut(context.Background()); n != 0 {
		t.Fatalf("aborted %d before the timeout", n)
	}
	f.clock.advance(2 * time.Second)
	if n := f.c.AbortTimedOut(context.Background()); n != 1 {
		t.Fatalf("aborted %d after the timeout", n)
	}
	d := f.describe("tx")
	if d.State != "CompleteAbort" || d.ProducerEpoch != e+1 {
		t.Fatalf("after timeout: %+v", d)
	}
	if got := f.broker.markers(tpA); !slices.Equal(got, []string{"1001/1/abort"}) {
		t.Fatalf("markers: %v (the abort carries the bumped epoch)", got)
	}
	if err := f.c.VerifyAppend(pid, e, tpA); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("produce at the old epoch: %v", err)
	}
	if code := f.end("tx", pid, e, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("commit at the old epoch: %d, want INVALID_PRODUCER_EPOCH", code)
	}
	if r := f.init("tx", pid, e); r.ErrorCode != 0 || r.ProducerEpoch != e+1 {
		t.Fatalf("resume after timeout: %+v", r)
	}
	// Once another producer has initialized, the old epoch is fenced.
	f.mustInit("tx")
	if r := f.init("tx", pid, e); r.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("resume after another producer took over: %+v", r)
	}
	if code := f.end("tx", pid, e, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("commit of a zombie: %d", code)
	}
}

// TestFencingAbortsOngoing: InitProducerId of a new instance aborts the
// open transaction (with a bumped epoch) before handing out the next one.
func TestFencingAbortsOngoing(t *testing.T) {
	f := newFixture(t)
	pid, e := f.mustInit("tx")
	f.add("tx", pid, e, tpA, tpB)
	pid2, e2 := f.mustInit("tx")
	if pid2 != pid || e2 != e+2 {
		t.Fatalf("new instance: %d/%d", pid2, e2)
	}
	for _, tp := range []TopicPartition{tpA, tpB} {
		if got := f.broker.markers(tp); !slices.Equal(got, []string{"1001/1/abort"}) {
			t.Fatalf("markers of %v: %v", tp, got)
		}
	}
	if code := f.add("tx", pid, e, tpA); code != kerr.ProducerFenced.Code {
		t.Fatalf("zombie add: %d", code)
	}
}

// TestExpireIDs: an idle transactional id is forgotten (tombstone), and
// stays forgotten after a restart; an Ongoing one never expires.
func TestExpireIDs(t *testing.T) {
	f := newFixture(t)
	f.mustInit("idle")
	pid, e := f.mustInit("busy")
	f.add("busy", pid, e, tpA)
	f.clock.advance(8 * 24 * time.Hour)
	if n := f.c.ExpireIDs(); n != 1 {
		t.Fatalf("expired %d", n)
	}
	f.restart()
	if d := f.describe("idle"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("expired id after restart: %+v", d)
	}
	if d := f.describe("busy"); d.State != "Ongoing" {
		t.Fatalf("busy id: %+v", d)
	}
	lt := f.c.ListTransactions(kmsg.NewPtrListTransactionsRequest())
	if len(lt.TransactionStates) != 1 || lt.TransactionStates[0].TransactionalID != "busy" {
		t.Fatalf("list: %+v", lt.TransactionStates)
	}
}

func TestListTransactionsFilters(t *testing.T) {
	f := newFixture(t)
	p1, e1 := f.mustInit("one")
	f.add("one", p1, e1, tpA)
	f.mustInit("two")
	req := kmsg.NewPtrListTransactionsRequest()
	req.SetVersion(1)
	req.StateFilters = []string{"Ongoing", "Bogus"}
	r := f.c.ListTransactions(req)
	if len(r.TransactionStates) != 1 || r.TransactionStates[0].TransactionalID != "one" || !slices.Equal(r.UnknownStateFilters, []string{"Bogus"}) {
		t.Fatalf("state filter: %+v", r)
	}
	req.StateFilters, req.DurationFilterMillis = nil, 1000
	if r := f.c.ListTransactions(req); len(r.TransactionStates) != 0 {
		t.Fatalf("duration filter before a second: %+v", r.TransactionStates)
	}
	f.clock.advance(2 * time.Second)
	if r := f.c.ListTransactions(req); len(r.TransactionStates) != 1 {
		t.Fatalf("duration filter after two seconds: %+v", r.TransactionStates)
	}
	req.DurationFilterMillis, req.ProducerIDFilters = -1, []int64{p1}
	if r := f.c.ListTransactions(req); len(r.TransactionStates) != 1 || r.TransactionStates[0].ProducerID != p1 {
		t.Fatalf("producer filter: %+v", r.TransactionStates)
	}
}

// TestMaxPartitionsPerTxn: the limit refuses the AddPartitionsToTxn that
// would cross it and leaves the transaction as it was.
func TestMaxPartitionsPerTxn(t *testing.T) {
	f := newFixture(t)
	f.c.cfg.MaxPartitionsPerTxn = 2
	pid, e := f.mustInit("tx")
	if code := f.add("tx", pid, e, tpA, tpB); code != 0 {
		t.Fatal(code)
	}
	if code := f.add("tx", pid, e, TopicPartition{"c", 0}); code != kerr.InvalidRequest.Code {
		t.Fatalf("third partition: %d", code)
	}
	if d := f.describe("tx"); len(d.Topics) != 2 {
		t.Fatalf("transaction changed: %+v", d.Topics)
	}
}
