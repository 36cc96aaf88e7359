package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/operators"
)

// The failover test runs application instances as child processes of the
// test binary, so one can be killed with SIGKILL like a crashed machine.
const childEnv = "SLUICE_ENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// seen is the failover aggregate: a count (duplicates allowed under
// at-least-once) and a bitmap of the event sequence numbers applied, which
// shows whether any update was lost.
type seen struct {
	Count int64  `json:"count"`
	Bits  []byte `json:"bits"`
}

func (s seen) has(i int64) bool { return int(i/8) < len(s.Bits) && s.Bits[i/8]&(1<<(i%8)) != 0 }

func failoverTopology() *operators.Topology {
	b := operators.NewBuilder()
	ev := operators.StreamOf(b, "fo-events", operators.String, operators.Int64)
	agg := operators.Aggregate(ev.GroupByKey(), func() seen { return seen{} }, func(_ string, seq int64, s seen) seen {
		s.Count++
		for int(seq/8) >= len(s.Bits) {
			s.Bits = append(s.Bits, 0)
		}
		s.Bits[seq/8] |= 1 << (seq % 8)
		return s
	}, operators.JSON[seen](), operators.Materialized("seen"))
	agg.ToStream().To("fo-out")
	topo, err := b.Build()
	if err != nil {
		panic(err)
	}
	return topo
}

func childMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	app, err := engine.New(failoverTopology(), engine.Config{
		ApplicationID:    "failover",
		Brokers:          []string{os.Getenv("BROKER")},
		StateDir:         os.Getenv("STATE_DIR"),
		CommitInterval:   200 * time.Millisecond,
		SessionTimeout:   6 * time.Second,
		RebalanceTimeout: 10 * time.Second,
		Logger:           log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() {
		for range app.Assigned() {
			fmt.Printf("TASKS %v\n", app.Tasks())
		}
	}()
	if err := app.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "run:", err)
		return 1
	}
	return 0
}

// child is one running instance.
type child struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	// tasks receives the task list each time the instance starts tasks.
	tasks chan string
}

func startChild(t *testing.T, broker, stateDir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "BROKER="+broker, "STATE_DIR="+stateDir)
	c := &child{cmd: cmd, done: make(chan struct{}), tasks: make(chan string, 100)}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{c: c}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(line, "TASKS "); ok {
				c.tasks <- rest
			}
		}
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("instance %d output:\n%s", cmd.Process.Pid, c.output())
		}
	})
	return c
}

type lockedWriter struct{ c *child }

func (w *lockedWriter) Write(p []byte) (int, error) { w.c.write(p); return len(p), nil }

func (c *child) write(p []byte) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// waitTasks waits until the instance reports a task list satisfying ok.
func (c *child) waitTasks(t *testing.T, timeout time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case s := <-c.tasks:
			if ok(s) {
				return s
			}
		case <-c.done:
			t.Fatalf("instance exited:\n%s", c.output())
		case <-deadline:
			t.Fatalf("instance never reported the expected tasks:\n%s", c.output())
		}
	}
}

func taskCount(s string) int { return len(strings.Fields(strings.Trim(s, "[]"))) }

func TestFailoverTwoInstancesOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and two application processes")
	}
	b := brokertest.Start(t)
	const partitions, keys, perKey = 4, 8, 600
	createTopics(t, b.Addr, partitions, "fo-events", "fo-out")

	producer, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	next := 0 // events produced per key so far
	produceRound := func(n int) error {
		var recs []*kgo.Record
		for i := 0; i < n && next < perKey; i++ {
			for k := 0; k < keys; k++ {
				v, _ := operators.Int64.Serialize(nil, int64(next))
				recs = append(recs, &kgo.Record{Topic: "fo-events", Key: []byte(fmt.Sprintf("user-%d", k)), Value: v})
			}
			next++
		}
		return producer.ProduceSync(ctx, recs...).FirstErr()
	}

	a := startChild(t, b.Addr, t.TempDir())
	a.waitTasks(t, 60*time.Second, func(s string) bool { return taskCount(s) == partitions })
	if err := produceRound(100); err != nil {
		t.Fatal(err)
	}

	bInst := startChild(t, b.Addr, t.TempDir())
	// The second instance takes half of the tasks.
	bInst.waitTasks(t, 60*time.Second, func(s string) bool { return taskCount(s) == partitions/2 })
	// Produce the rest steadily in the background and kill the first
	// instance mid-stream, while it processes, holding uncommitted work
	// and state for its tasks.
	var pmu sync.Mutex
	half := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for {
			pmu.Lock()
			if next >= perKey {
				pmu.Unlock()
				return
			}
			if err := produceRound(5); err != nil {
				pmu.Unlock()
				t.Error(err)
				return
			}
			if next >= perKey/2 {
				select {
				case <-half:
				default:
					close(half)
				}
			}
			pmu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	<-half
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	<-produced
	// The survivor takes every task, restoring the dead instance's state
	// from the changelogs.
	bInst.waitTasks(t, 90*time.Second, func(s string) bool { return taskCount(s) == partitions })

	final := map[string]seen{}
	complete := func() bool {
		for k := 0; k < keys; k++ {
			s := final[fmt.Sprintf("user-%d", k)]
			for i := int64(0); i < perKey; i++ {
				if !s.has(i) {
					return false
				}
			}
		}
		return true
	}
	consumeUntil(t, b.Addr, "fo-out", 90*time.Second, func(r *kgo.Record) bool {
		var s seen
		if err := json.Unmarshal(r.Value, &s); err != nil {
			t.Fatalf("bad output %q: %v", r.Value, err)
		}
		final[string(r.Key)] = s
		return complete()
	})
	if !strings.Contains(bInst.output(), "restoring store") {
		t.Errorf("survivor never restored a store from a changelog:\n%s", bInst.output())
	}
	var dups int64
	for k, s := range final {
		if s.Count < perKey {
			t.Errorf("%s: count %d < %d events: updates lost", k, s.Count, perKey)
		}
		dups += s.Count - perKey
	}
	t.Logf("all %d events per key applied; %d duplicate applications (at-least-once replay)", perKey, dups)
}
