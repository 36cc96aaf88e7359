package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestTransactionsAtomicAcrossBrokerKills: producers commit transactions
// of six records over three partitions in a loop while the broker is
// SIGKILLed and restarted at random moments. Afterwards every transaction
// is all-or-nothing for read_committed consumers, and every transaction
// whose commit a producer saw succeed is there.
func TestTransactionsAtomicAcrossBrokerKills(t *testing.T) {
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, "atomic", 3, nil)

	producers, kills := 3, 4
	if testing.Short() {
		kills = 2
	}
	var mu sync.Mutex
	committed := map[string]bool{} // transactions the client saw commit
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < producers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("atomic-%d", i)
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				txn := fmt.Sprintf("p%d-t%04d", i, k)
				if atomicTxn(b.Addr, id, txn) {
					mu.Lock()
					committed[txn] = true
					mu.Unlock()
				}
			}
		}()
	}

	seed := time.Now().UnixNano()
	t.Logf("kill delays from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for i := 0; i < kills; i++ {
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		b.Kill()
		b.StartAgain()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Abort whatever a producer left open (a fresh instance of each
	// transactional id fences its predecessor), so that nothing holds
	// read_committed consumers back.
	ctx := testCtx(t)
	for i := 0; i < producers; i++ {
		cl := txnProducer(t, b.Addr, fmt.Sprintf("atomic-%d", i))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.Fatal(err)
		}
	}

	counts := map[string]int{}
	for _, v := range readAll(t, b.Addr, "atomic", kgo.ReadCommitted()) {
		counts[v[:strings.LastIndex(v, "-")]]++
	}
	for txn, n := range counts {
		if n != 6 {
			t.Errorf("transaction %s: %d of its 6 records are visible", txn, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for txn := range committed {
		if counts[txn] != 6 {
			t.Errorf("transaction %s was committed but %d of its records are visible", txn, counts[txn])
			pfx := txn[:strings.Index(txn, "-")]
			for p := int32(0); p < 3; p++ {
				dumpPartition(t, b.Addr, "atomic", p, func(v string) bool { return strings.HasPrefix(v, pfx) })
			}
			break
		}
	}
	if len(committed) == 0 {
		t.Fatal("no transaction committed")
	}
	t.Logf("%d transactions visible, %d confirmed committed by their producer", len(counts), len(committed))
}

// atomicTxn runs one transaction of six records (two per partition) with a
// fresh client, as a restarted application would, and reports whether its
// commit succeeded. Any failure aborts it, or leaves it to the next
// instance's fencing.
func atomicTxn(addr, id, txn string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.TransactionTimeout(10*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(5*time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		return false
	}
	var failed atomic.Bool
	for j := 0; j < 6; j++ {
		cl.Produce(ctx, &kgo.Record{Topic: "atomic", Partition: int32(j % 3), Value: []byte(fmt.Sprintf("%s-r%d", txn, j))},
			func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(true)
				}
			})
	}
	// Flush does not report failed records (their promises do), and
	// franz-go commits whatever was produced: a transaction with a
	// failed record must be aborted.
	if err := cl.Flush(ctx); err != nil || failed.Load() {
		_ = cl.AbortBufferedRecords(ctx)
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return false
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		_ = cl.EndTransaction(ctx, kgo.TryAbort)
		return false
	}
	return true
}

// dumpPartition logs a partition's batches (offset, producer, epoch,
// control type, values) and the aborted transactions a read_committed
// fetch from 0 reports, to explain a failed check.
func dumpPartition(t *testing.T, addr, topic string, partition int32, match func(string) bool) {
	cl := newClient(t, addr, kgo.MaxVersions(kversion.V3_0_0()))
	ctx := testCtx(t)
	for off := int64(0); ; {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxBytes, req.IsolationLevel = -1, 1<<20, 1
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
		for _, a := range fp.AbortedTransactions {
			t.Logf("%s[%d] fetch at %d: aborted txn pid %d first %d", topic, partition, off, a.ProducerID, a.FirstOffset)
		}
		data := fp.RecordBatches
		if len(data) == 0 {
			return
		}
		for len(data) >= 61 {
			n := int(uint32(data[8])<<24 | uint32(data[9])<<16 | uint32(data[10])<<8 | uint32(data[11]))
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(data[:12+n]); err != nil {
				t.Fatal(err)
			}
			data = data[12+n:]
			off = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			recs, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{KeepControlRecords: true, Topic: topic, Partition: partition},
				&kmsg.FetchResponseTopicPartition{RecordBatches: rb.AppendTo(nil)}, kgo.DefaultDecompressor(), nil)
			var vals []string
			show := false
			for _, r := range recs.Records {
				vals = append(vals, string(r.Value))
				if match(string(r.Value)) {
					show = true
				}
			}
			if show || rb.Attributes&0x20 != 0 {
				t.Logf("%s[%d] @%d pid %d epoch %d attrs %#x seq %d: %q", topic, partition, rb.FirstOffset, rb.ProducerID, rb.ProducerEpoch, rb.Attributes, rb.FirstSequence, vals)
			}
		}
	}
}
