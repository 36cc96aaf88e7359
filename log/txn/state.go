package txn

import (
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transactional id's state, numbered as Kafka numbers them in
// __transaction_state.
type State int8

const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

// String is Kafka's name for the state (DescribeTransactions,
// ListTransactions, kafka-transactions.sh).
func (s State) String() string { return kmsg.TransactionState(s).String() }

// parseState maps a Kafka state name to a State.
func parseState(name string) (State, bool) {
	for s := Empty; s <= PrepareEpochFence; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

func (s State) preparing() bool { return s == PrepareCommit || s == PrepareAbort }

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// noEpoch and noProducer are Kafka's "none" values.
const (
	noEpoch    int16 = -1
	noProducer int64 = -1
)

// epochExhausted reports whether an epoch can no longer be bumped: Kafka
// rotates to a new producer id one short of the int16 maximum, so that a
// fenced zombie can never wrap around to a valid epoch.
func epochExhausted(e int16) bool { return e >= 1<<15-2 }

// meta is the durable part of a transactional id's state: what one
// __transaction_state record holds.
type meta struct {
	producerID, lastProducerID int64
	epoch, lastEpoch           int16
	timeoutMs                  int32
	state                      State
	parts                      []TopicPartition // sorted
	startMs, updateMs          int64
}

func sortParts(ps []TopicPartition) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Topic != ps[j].Topic {
			return ps[i].Topic < ps[j].Topic
		}
		return ps[i].Partition < ps[j].Partition
	})
}

// txn is one transactional id.
//
// mu serializes transitions: it is held from deciding a transition through
// its log write (and, when ending a transaction, its markers). Fields of
// cur are written only while holding both mu and view; VerifyAppend reads
// them under view alone, so a produce never waits for a log write.
type txn struct {
	id string
	mu sync.Mutex

	view sync.RWMutex
	cur  meta
	set  map[TopicPartition]struct{} // cur.parts as a set

	// marked: the partitions whose marker is written, while preparing.
	// Written under mu and view, like cur.
	marked map[TopicPartition]struct{}

	removed bool // expired: look the id up again (guarded by mu)
}

// setMarked records a written marker (nil tp: forget them all). The caller
// holds mu.
func (t *txn) setMarked(tp *TopicPartition) {
	t.view.Lock()
	defer t.view.Unlock()
	if tp == nil {
		t.marked = nil
		return
	}
	if t.marked == nil {
		t.marked = make(map[TopicPartition]struct{})
	}
	t.marked[*tp] = struct{}{}
}

func newTxn(id string) *txn {
	return &txn{id: id, cur: meta{producerID: noProducer, lastProducerID: noProducer, epoch: noEpoch, lastEpoch: noEpoch, startMs: -1}}
}

// next returns a copy of the current state to build a transition from.
func (t *txn) next() meta {
	m := t.cur
	m.parts = append([]TopicPartition(nil), t.cur.parts...)
	return m
}

// has reports whether tp is in the current transaction. Callers hold mu or
// view.
func (t *txn) has(tp TopicPartition) bool {
	_, ok := t.set[tp]
	return ok
}
