package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The exactly-once test's child process: TestEOSChildProcess runs only when
// eosChildEnv names a broker address.
const (
	eosChildEnv = "SLUICE_EOS_CHILD_BROKER"
	eosIDEnv    = "SLUICE_EOS_CHILD_ID"
	eosIn       = "eos-in"
	eosOut      = "eos-out"
	eosGroup    = "eos-group"
	eosTxnID    = "eos-worker"
)

// eosSession is the consume-transform-produce client every EOS test uses:
// a GroupTransactSession reading read_committed, with static membership so
// that a restarted process takes over its predecessor's partitions at
// once.
func eosSession(addr, id string, extra ...kgo.Opt) (*kgo.GroupTransactSession, error) {
	return kgo.NewGroupTransactSession(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(10 * time.Second),
		kgo.ConsumerGroup(eosGroup),
		kgo.InstanceID(id),
		kgo.ConsumeTopics(eosIn),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(10 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	}, extra...)...)
}

// initTxn makes the session's producer initialize now, before it fetches
// committed offsets: InitProducerId aborts whatever a killed predecessor
// with the same transactional id left open (releasing its pending
// offsets), instead of leaving it to the transaction timeout.
func initTxn(ctx context.Context, s *kgo.GroupTransactSession) error {
	if err := s.Begin(); err != nil {
		return err
	}
	_, err := s.End(ctx, kgo.TryAbort)
	return err
}

// transformBatch produces "out:<value>" for each record to the same
// partition of eosOut, inside the session's open transaction. It returns
// how the transaction must end: franz-go commits whatever was produced, so
// a record that failed (its promise says so; Flush does not) must abort it.
func transformBatch(ctx context.Context, s *kgo.GroupTransactSession, recs []*kgo.Record) func() kgo.TransactionEndTry {
	var failed atomic.Bool
	for _, r := range recs {
		s.Produce(ctx, &kgo.Record{Topic: eosOut, Partition: r.Partition, Key: r.Key, Value: append([]byte("out:"), r.Value...)},
			func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(true)
				}
			})
	}
	return func() kgo.TransactionEndTry {
		if err := s.Client().Flush(ctx); err != nil || failed.Load() {
			return kgo.TryAbort
		}
		return kgo.TryCommit
	}
}

// TestEOSChildProcess is the child of TestTransactionsExactlyOnceClientKill:
// it transforms eosIn into eosOut in transactions of at most 50 records,
// printing "committed N" after each commit, until it is killed.
func TestEOSChildProcess(t *testing.T) {
	addr := os.Getenv(eosChildEnv)
	if addr == "" {
		t.Skip("helper process of TestTransactionsExactlyOnceClientKill")
	}
	ctx := context.Background()
	id := os.Getenv(eosIDEnv)
	if id == "" {
		id = eosTxnID
	}
	s, err := eosSession(addr, id)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := initTxn(ctx, s); err != nil {
		fmt.Println("error init", err)
		os.Exit(1)
	}
	total := 0
	for {
		fs := s.PollRecords(ctx, 50)
		if errs := fs.Errors(); len(errs) > 0 {
			fmt.Println("fetch error", errs[0].Err)
			continue
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			fmt.Println("error begin", err)
			os.Exit(1)
		}
		how := transformBatch(ctx, s, recs)()
		// Widen the window in which a kill lands mid-transaction, with
		// the records already in the log.
		time.Sleep(20 * time.Millisecond)
		committed, err := s.End(ctx, how)
		if err != nil {
			fmt.Println("error end", err)
			os.Exit(1)
		}
		if committed {
			total += len(recs)
			fmt.Println("committed", total)
		}
	}
}

// eosChild is a running child process.
type eosChild struct {
	cmd       *exec.Cmd
	committed chan struct{} // closed at the first commit
	exited    chan struct{}
	out       strings.Builder
	commits   atomic.Int64
}

func startEOSChild(t *testing.T, addr, id string) *eosChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEOSChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), eosChildEnv+"="+addr, eosIDEnv+"="+id)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	c := &eosChild{cmd: cmd, committed: make(chan struct{}), exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "committed ") {
				if c.commits.Add(1) == 1 {
					close(c.committed)
				}
				continue
			}
			c.out.WriteString(line + "\n")
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { c.kill() })
	return c
}

func (c *eosChild) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.exited
}

// TestTransactionsExactlyOnceClientKill: a consume-transform-produce loop
// (GroupTransactSession, read_committed) in a child process is SIGKILLed at
// random moments, mid-transaction more often than not, and restarted with
// the same transactional id; when the last incarnation has caught up, the
// output holds every input record exactly once.
func TestTransactionsExactlyOnceClientKill(t *testing.T) {
	cfg := writeConfig(t, "transaction.abort.timed.out.transaction.cleanup.interval.ms=200\n")
	b := startBroker(t, "--config", cfg)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, eosIn, 3, nil)
	createTopic(t, adm, eosOut, 3, nil)
	ctx := testCtx(t)

	n, kills := 3000, 5
	if testing.Short() {
		n, kills = 600, 2
	}
	in := newClient(t, b.Addr, kgo.DefaultProduceTopic(eosIn))
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("out:in-%05d", i)
		in.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 17)), Value: []byte(fmt.Sprintf("in-%05d", i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	seed := time.Now().UnixNano()
	t.Logf("kill delays from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for i := 0; i < kills; i++ {
		c := startEOSChild(t, b.Addr, eosTxnID)
		select {
		case <-c.committed:
		case <-c.exited:
			t.Fatalf("child %d exited:\n%s", i, c.out.String())
		case <-ctx.Done():
			t.Fatalf("child %d made no commit:\n%s", i, c.out.String())
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		c.kill()
		t.Logf("killed child %d after %d commits", i, c.commits.Load())
	}

	// The last incarnation runs until everything is through.
	last := startEOSChild(t, b.Addr, eosTxnID)
	out := newClient(t, b.Addr, kgo.ConsumeTopics(eosOut), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	for len(seen) < n {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("output has %d of %d distinct records; child:\n%s", len(seen), n, last.out.String())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
	}
	last.kill()

	got := readAll(t, b.Addr, eosOut, kgo.ReadCommitted())
	if len(got) != n {
		dups := 0
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				dups++
			}
		}
		t.Fatalf("read_committed output: %d records for %d inputs (%d duplicates)", len(got), n, dups)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("output record %d is %q, want %q", i, got[i], want[i])
		}
	}
	all := readAll(t, b.Addr, eosOut, kgo.ReadUncommitted())
	t.Logf("output: %d committed records, %d in the log counting aborted transactions", len(got), len(all))
}

// TestTransactionCompletedAfterBrokerKill: the broker is SIGKILLed after a
// consume-transform-produce transaction's PrepareCommit is durable but
// before any marker is written (a test failpoint holds it there). On
// restart the coordinator completes the commit: the output and the
// transactional offsets become visible, exactly once, and the session
// carries on.
func TestTransactionCompletedAfterBrokerKill(t *testing.T) {
	t.Setenv("SLUICE_TXN_FAILPOINT", "hang-after-prepare")
	b := startBroker(t)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, eosIn, 2, nil)
	createTopic(t, adm, eosOut, 2, nil)
	ctx := testCtx(t)
	in := newClient(t, b.Addr, kgo.DefaultProduceTopic(eosIn))
	const n = 200
	for i := 0; i < n; i++ {
		in.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("in-%05d", i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	s, err := eosSession(b.Addr, eosTxnID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := initTxn(ctx, s); err != nil {
		t.Fatal(err)
	}
	var batch []*kgo.Record
	for len(batch) == 0 {
		batch = s.PollRecords(ctx, 60).Records()
		if ctx.Err() != nil {
			t.Fatal("nothing to consume")
		}
	}
	if err := s.Begin(); err != nil {
		t.Fatal(err)
	}
	how := transformBatch(ctx, s, batch)()
	if how != kgo.TryCommit {
		t.Fatal("a record of the transaction failed")
	}
	ended := make(chan error, 1)
	go func() {
		_, err := s.End(ctx, how)
		ended <- err
	}()
	for {
		if dt := describeTxn(t, adm, eosTxnID); dt.State == "PrepareCommit" {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the transaction never reached PrepareCommit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Kill()
	t.Setenv("SLUICE_TXN_FAILPOINT", "")
	b.StartAgain()
	adm = newAdmin(t, b.Addr) // no connections from before the kill

	if dt := describeTxn(t, adm, eosTxnID); dt.State != "CompleteCommit" {
		t.Fatalf("after restart the transaction is %s, want CompleteCommit", dt.State)
	}
	var want []string
	next := map[int32]int64{}
	for _, r := range batch {
		want = append(want, "out:"+string(r.Value))
		next[r.Partition] = r.Offset + 1
	}
	if got := readAll(t, b.Addr, eosOut, kgo.ReadCommitted()); !equal(got, sorted(want)) {
		t.Fatalf("after restart read_committed output has %d records, want the %d of the prepared transaction", len(got), len(want))
	}
	offs, err := adm.FetchOffsets(ctx, eosGroup)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range next {
		if got, ok := offs.Lookup(eosIn, p); !ok || got.At != o {
			t.Fatalf("committed offset of %s[%d] after restart: %+v, want %d", eosIn, p, got, o)
		}
	}
	select {
	case err := <-ended:
		t.Logf("End across the restart returned %v", err)
	case <-ctx.Done():
		t.Fatal("End did not return after the restart")
	}

	// A new incarnation finishes the input; everything is in the
	// output exactly once.
	s.Close()
	s2, err := eosSession(b.Addr, eosTxnID)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := initTxn(ctx, s2); err != nil {
		t.Fatal(err)
	}
	done := len(batch)
	for done < n {
		recs := s2.PollRecords(ctx, 60).Records()
		if ctx.Err() != nil {
			t.Fatalf("processed %d of %d", done, n)
		}
		if len(recs) == 0 {
			continue
		}
		if err := s2.Begin(); err != nil {
			t.Fatal(err)
		}
		if ok, err := s2.End(ctx, transformBatch(ctx, s2, recs)()); err != nil || !ok {
			t.Fatalf("commit: %v %v", ok, err)
		}
		done += len(recs)
	}
	got := readAll(t, b.Addr, eosOut, kgo.ReadCommitted())
	if len(got) != n {
		t.Fatalf("output has %d records for %d inputs", len(got), n)
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("duplicate output %q", got[i])
		}
	}
}

// TestTransactionsExactlyOnceRebalance: two consume-transform-produce
// processes share the group; the second joins while the first is mid-way
// (a rebalance moves partitions between transactional producers, KIP-447),
// and each is SIGKILLed and restarted in turn. The output holds every
// input exactly once.
func TestTransactionsExactlyOnceRebalance(t *testing.T) {
	cfg := writeConfig(t, "transaction.abort.timed.out.transaction.cleanup.interval.ms=200\n")
	b := startBroker(t, "--config", cfg)
	adm := newAdmin(t, b.Addr)
	createTopic(t, adm, eosIn, 6, nil)
	createTopic(t, adm, eosOut, 6, nil)
	ctx := testCtx(t)
	n, kills := 4000, 4
	if testing.Short() {
		n, kills = 1000, 2
	}
	in := newClient(t, b.Addr, kgo.DefaultProduceTopic(eosIn))
	for i := 0; i < n; i++ {
		in.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i % 23)), Value: []byte(fmt.Sprintf("in-%05d", i))}, nil)
	}
	if err := in.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitCommit := func(c *eosChild, what string) {
		t.Helper()
		select {
		case <-c.committed:
		case <-c.exited:
			t.Fatalf("%s exited:\n%s", what, c.out.String())
		case <-ctx.Done():
			t.Fatalf("%s made no commit:\n%s", what, c.out.String())
		}
	}
	seed := time.Now().UnixNano()
	t.Logf("kill delays from seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	workers := []*eosChild{startEOSChild(t, b.Addr, "eos-w0"), nil}
	waitCommit(workers[0], "w0")
	workers[1] = startEOSChild(t, b.Addr, "eos-w1") // joins: rebalance
	waitCommit(workers[1], "w1")
	for i := 0; i < kills; i++ {
		w := i % 2
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		workers[w].kill()
		t.Logf("killed w%d after %d commits", w, workers[w].commits.Load())
		workers[w] = startEOSChild(t, b.Addr, fmt.Sprintf("eos-w%d", w))
		waitCommit(workers[w], fmt.Sprintf("w%d restarted", w))
	}

	out := newClient(t, b.Addr, kgo.ConsumeTopics(eosOut), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < n {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("output has %d of %d distinct records; w0:\n%s\nw1:\n%s", len(seen), n, workers[0].out.String(), workers[1].out.String())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	workers[0].kill()
	workers[1].kill()
	got := readAll(t, b.Addr, eosOut, kgo.ReadCommitted())
	if len(got) != n {
		t.Fatalf("read_committed output: %d records for %d inputs", len(got), n)
	}
	for i := range got {
		if want := fmt.Sprintf("out:in-%05d", i); got[i] != want {
			t.Fatalf("output record %d is %q, want %q", i, got[i], want)
		}
	}
	all := readAll(t, b.Addr, eosOut, kgo.ReadUncommitted())
	t.Logf("output: %d committed records, %d in the log counting aborted transactions", len(got), len(all))
}
