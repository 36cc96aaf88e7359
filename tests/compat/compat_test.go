package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// Timeouts of the scenario. Group members use a short heartbeat so that
// rebalances settle in about a second; the broker's minimum session timeout
// is Kafka's 6s.
const (
	sessionTimeout    = 6 * time.Second
	heartbeatInterval = 500 * time.Millisecond
	waitTimeout       = 60 * time.Second
	partitions        = 4
	recordsPerPhase   = 60
)

// kv is one keyed record as a client produced or consumed it.
type kv struct{ Key, Value string }

func (r kv) String() string { return r.Key + "=" + r.Value }

// scenario is the shared plan every client follows, with record values
// unique per client and phase so any loss or repeat is attributable.
type scenario struct {
	client string
	topic  string
	group  string
	// before: consumed and committed before the restart. afterOld: produced
	// before the restart, consumed after. afterNew: produced after it, once
	// the new members hold partitions.
	before, afterOld, afterNew []kv
}

func newScenario(client string) *scenario {
	s := &scenario{client: client, topic: "compat-" + client, group: "compat-" + client + "-group"}
	gen := func(phase string) []kv {
		out := make([]kv, recordsPerPhase)
		for i := range out {
			out[i] = kv{Key: fmt.Sprintf("key-%02d", i%30), Value: fmt.Sprintf("%s-%s-%03d", client, phase, i)}
		}
		return out
	}
	s.before, s.afterOld, s.afterNew = gen("before"), gen("old"), gen("new")
	return s
}

func (s *scenario) afterRestart() []kv { return append(append([]kv{}, s.afterOld...), s.afterNew...) }

// collector gathers what group members consumed, from any goroutine.
type collector struct {
	ch chan consumed
}

type consumed struct {
	member int
	kv
}

func newCollector() *collector { return &collector{ch: make(chan consumed, 10000)} }

// add reports that member consumed (and committed) r.
func (c *collector) add(member int, r kv) { c.ch <- consumed{member, r} }

// await receives until every wanted record arrived (or the timeout), then
// keeps listening for a short grace period so that late duplicates or
// strays show up, and fails unless exactly want arrived, each once. It
// returns how many records each member reported.
func (c *collector) await(t *testing.T, what string, want []kv) map[int]int {
	t.Helper()
	wantSet := map[kv]bool{}
	for _, r := range want {
		wantSet[r] = true
	}
	var got []kv
	perMember := map[int]int{}
	missing := len(wantSet)
	seen := map[kv]bool{}
	deadline := time.After(waitTimeout)
	for missing > 0 {
		select {
		case m := <-c.ch:
			r := m.kv
			perMember[m.member]++
			got = append(got, r)
			if wantSet[r] && !seen[r] {
				missing--
			}
			seen[r] = true
		case <-deadline:
			assertExactly(t, what, got, want)
			t.Fatalf("%s: timed out", what)
		}
	}
	grace := time.After(750 * time.Millisecond)
	for done := false; !done; {
		select {
		case m := <-c.ch:
			perMember[m.member]++
			got = append(got, m.kv)
		case <-grace:
			done = true
		}
	}
	assertExactly(t, what, got, want)
	return perMember
}

// assertExactly fails the test unless got holds every record of want once
// and nothing else, listing what is missing, repeated or unexpected.
func assertExactly(t *testing.T, what string, got, want []kv) {
	t.Helper()
	count := map[kv]int{}
	for _, r := range got {
		count[r]++
	}
	var missing, repeated, stray []string
	wanted := map[kv]bool{}
	for _, r := range want {
		wanted[r] = true
		if count[r] == 0 {
			missing = append(missing, r.String())
		}
	}
	for r, n := range count {
		switch {
		case !wanted[r]:
			stray = append(stray, r.String())
		case n > 1:
			repeated = append(repeated, fmt.Sprintf("%s x%d", r, n))
		}
	}
	if len(missing)+len(repeated)+len(stray) == 0 {
		return
	}
	sort.Strings(missing)
	sort.Strings(repeated)
	sort.Strings(stray)
	t.Fatalf("%s: got %d records, want %d\nmissing (%d): %s\nrepeated (%d): %s\nunexpected (%d): %s", what, len(got), len(want),
		len(missing), trunc(missing), len(repeated), trunc(repeated), len(stray), trunc(stray))
}

func trunc(xs []string) string {
	if len(xs) > 10 {
		return strings.Join(xs[:10], " ") + " ..."
	}
	return strings.Join(xs, " ")
}

// admin is a franz-go admin client used to observe the broker (group state,
// offsets) independently of the client under test.
func admin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// waitForMembers waits until group is Stable with n members that each own
// at least one partition, so records produced next are split between them.
func waitForMembers(t *testing.T, addr, group string, n int) {
	t.Helper()
	adm := admin(t, addr)
	deadline := time.Now().Add(waitTimeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			g := gs[group]
			last = fmt.Sprintf("state %s, %d members", g.State, len(g.Members))
			if g.Err == nil && g.State == "Stable" && len(g.Members) == n {
				owning := 0
				for _, m := range g.Members {
					if a, ok := m.Assigned.AsConsumer(); ok {
						for _, tp := range a.Topics {
							if len(tp.Partitions) > 0 {
								owning++
								break
							}
						}
					}
				}
				if owning == n {
					return
				}
				last += fmt.Sprintf(", %d with partitions", owning)
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s never had %d stable members with partitions (last: %s)", group, n, last)
}

// assertCommittedToEnd checks through the admin API that the group's
// committed offsets reach the end of every partition: everything consumed
// was committed.
func assertCommittedToEnd(t *testing.T, addr string, s *scenario) {
	t.Helper()
	adm := admin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := adm.Lag(ctx, s.group)
	if err != nil {
		t.Fatalf("lag of %s: %v", s.group, err)
	}
	l := lags[s.group]
	if err := l.Error(); err != nil {
		t.Fatalf("lag of %s: %v", s.group, err)
	}
	for _, p := range l.Lag.Sorted() {
		if p.Topic == s.topic && (p.Lag != 0 || p.Err != nil) {
			t.Errorf("group %s: %s[%d] committed %d, end %d (lag %d, err %v)", s.group, p.Topic, p.Partition, p.Commit.At, p.End.Offset, p.Lag, p.Err)
		}
	}
}

// member is one running consumer-group member of the client under test.
type member interface{ stop() }

// onceMember makes stop idempotent.
type onceMember struct {
	m    member
	once sync.Once
}

func (o *onceMember) stop() { o.once.Do(o.m.stop) }

// client adapts one Kafka client library to the scenario.
type client struct {
	// createTopic creates s.topic with `partitions` partitions.
	createTopic func(t *testing.T, addr string, s *scenario)
	// produce writes records, keyed, and returns once all are acknowledged.
	produce func(t *testing.T, addr string, s *scenario, records []kv)
	// startMember joins s.group and reports every consumed record to c only
	// after committing it; stop leaves the group cleanly.
	startMember func(t *testing.T, addr string, s *scenario, c *collector, id int) member
	// verify, if set, makes client-specific checks at the end (goka reads
	// its group table through a view).
	verify func(t *testing.T, addr string, s *scenario)
}

// brokerConfig writes the broker settings of the scenario: like Kafka
// (which waits 3s by default), the first rebalance of an empty group waits
// a moment for more members, so that two members started together after the
// restart share the partitions from the first generation on.
func brokerConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "broker.properties")
	if err := os.WriteFile(p, []byte("group.initial.rebalance.delay.ms=1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runScenario is the compatibility story every client must pass, with a
// graceful broker restart.
func runScenario(t *testing.T, name string, cl client) {
	runScenarioWith(t, name, cl, (*brokertest.Broker).Restart)
}

// runScenarioWith runs the story with restart as the broker's interruption
// (a graceful restart, or SIGKILL and start again).
func runScenarioWith(t *testing.T, name string, cl client, restart func(*brokertest.Broker)) {
	if testing.Short() {
		t.Skip("starts sluice serve and real clients")
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("%5.1fs %s: %s", time.Since(start).Seconds(), name, fmt.Sprintf(format, args...))
	}
	b := brokertest.Start(t, "--config", brokerConfig(t))
	s := newScenario(name)
	cl.createTopic(t, b.Addr, s)
	logf("topic %s created on %s", s.topic, b.Addr)

	// Phase 1: two members split the partitions, then records arrive.
	join := func(c *collector, id int) member {
		// Stopped at the end even when the test fails early, so that no
		// member goroutine reports into a finished test.
		m := &onceMember{m: cl.startMember(t, b.Addr, s, c, id)}
		t.Cleanup(m.stop)
		return m
	}
	c := newCollector()
	m1 := join(c, 1)
	m2 := join(c, 2)
	waitForMembers(t, b.Addr, s.group, 2)
	logf("two members joined; producing")
	cl.produce(t, b.Addr, s, s.before)
	perMember := c.await(t, "before restart", s.before)
	if perMember[1] == 0 || perMember[2] == 0 {
		t.Fatalf("before restart: members consumed %v; want both to take part", perMember)
	}
	logf("consumed everything (per member: %v); stopping members", perMember)
	m1.stop()
	m2.stop()
	assertCommittedToEnd(t, b.Addr, s)

	// Records written before the restart must survive it; the group's
	// committed offsets too.
	cl.produce(t, b.Addr, s, s.afterOld)
	logf("phase 1 consumed and committed; restarting the broker")
	restart(b)
	logf("broker restarted; resuming the group")

	// Phase 2: a new pair of members resumes exactly where the first pair
	// committed: the records produced before the restart that were never
	// consumed, then new ones produced once both members hold partitions;
	// nothing consumed before the restart comes again.
	c = newCollector()
	m1 = join(c, 3)
	m2 = join(c, 4)
	waitForMembers(t, b.Addr, s.group, 2)
	cl.produce(t, b.Addr, s, s.afterNew)
	perMember = c.await(t, "after restart", s.afterRestart())
	if perMember[3] == 0 || perMember[4] == 0 {
		t.Fatalf("after restart: members consumed %v; want both to take part", perMember)
	}
	logf("consumed everything (per member: %v); stopping members", perMember)
	m1.stop()
	m2.stop()
	logf("members stopped")
	assertCommittedToEnd(t, b.Addr, s)
	if cl.verify != nil {
		cl.verify(t, b.Addr, s)
		logf("verified")
	}
}
