package worker_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
	_ "github.com/sluicehq/sluice/connectors/mqtt"
	_ "github.com/sluicehq/sluice/connectors/postgres"
	"github.com/sluicehq/sluice/connectors/worker"
)

// txnSource emits "1", "2", ... up to "limit", ten per poll, with the
// number as its position, and defines its transactions: every "group"
// numbers end one, committed, except every third group, which it aborts.
type txnSource struct{ next, limit, group int }

var txnCommits struct {
	sync.Mutex
	seen []int
}

func (s *txnSource) Open(_ context.Context, _ connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.limit, s.group = int(cfg.Int("limit")), int(cfg.Int("group"))
	var last int
	if _, err := committed.Decode("n", &last); err != nil {
		return err
	}
	s.next = last
	return nil
}

func (s *txnSource) Poll(ctx context.Context) ([]connectors.Record, error) {
	var out []connectors.Record
	for len(out) < 10 && s.next < s.limit {
		s.next++
		pos, _ := connectors.NewPosition("n", s.next)
		r := connectors.Record{Value: []byte(strconv.Itoa(s.next)), Position: pos}
		if s.next%s.group == 0 {
			r.Transaction = connectors.CommitTransaction
			if (s.next/s.group)%3 == 0 {
				r.Transaction = connectors.AbortTransaction
			}
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return out, nil
}

func (s *txnSource) Commit(_ context.Context, positions []connectors.Position) error {
	txnCommits.Lock()
	defer txnCommits.Unlock()
	for _, p := range positions {
		n, _ := strconv.Atoi(string(p.Offset))
		txnCommits.seen = append(txnCommits.seen, n)
	}
	return nil
}

func (s *txnSource) Close(context.Context) error { return nil }

func (s *txnSource) ExactlyOnce(connectors.Config) error { return nil }

func (s *txnSource) DefinesTransactions(cfg connectors.Config) error {
	if cfg.Int("group") <= 0 {
		return errors.New("group must be set")
	}
	return nil
}

func init() {
	connectors.Register(connectors.Plugin{Name: "test-txn-source", Kind: connectors.KindSource,
		Spec: connectors.ConfigSpec{
			{Name: "limit", Type: connectors.TypeInt, Required: true},
			{Name: "group", Type: connectors.TypeInt, Default: "0"},
		},
		NewSource: func() connectors.Source { return &txnSource{} }})
}

func exactlyOnce(mode worker.ExactlyOnceMode) func(*worker.Config) {
	return func(c *worker.Config) { c.ExactlyOnceSourceSupport = mode }
}

// readTopic reads partition 0 of topic from the start to its current high
// watermark, read_committed or not, and returns the data records.
func readTopic(t testing.TB, addr, topic string, committed bool) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(client(t, addr)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset == 0 {
		return nil
	}
	opts := []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}), kgo.KeepControlRecords()}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl := client(t, addr, opts...)
	var out []*kgo.Record
	for done := false; !done; {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s to offset %d: %v (read %d records)", topic, end.Offset, ctx.Err(), len(out))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= end.Offset-1 {
				done = true
			}
			if !r.Attrs.IsControl() && r.Offset < end.Offset {
				out = append(out, r)
			}
		})
	}
	return out
}

func values(recs []*kgo.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// TestExactlyOnceConnectorBoundaries: a source that defines its
// transactions gets exactly the groups it committed in a read_committed
// view of the topic, the ones it aborted are in the log but never visible,
// and Commit hears only of committed positions.
func TestExactlyOnceConnectorBoundaries(t *testing.T) {
	b := startBroker(t)
	txnCommits.Lock()
	txnCommits.seen = nil
	txnCommits.Unlock()
	w := startWorkerWith(t, b.Addr, "eos-worker", nil, exactlyOnce(worker.ExactlyOnceEnabled))
	w.create("txn", map[string]string{"connector.class": "test-txn-source", "topic": "groups", "limit": "60", "group": "4",
		"transaction.boundary": "connector", "exactly.once.support": "required"})
	// Groups 1..15 end at 4, 8, ..., 60; groups 3, 6, 9, 12 and 15 abort.
	var want []string
	for n := 1; n <= 60; n++ {
		if g := (n + 3) / 4; g%3 != 0 {
			want = append(want, strconv.Itoa(n))
		}
	}
	waitFor(t, "the last committed group", func() bool {
		txnCommits.Lock()
		defer txnCommits.Unlock()
		return len(txnCommits.seen) > 0 && txnCommits.seen[len(txnCommits.seen)-1] == 56
	})
	var got []string
	waitFor(t, "the topic to hold all 60 numbers", func() bool {
		return len(readTopic(t, b.Addr, "groups", false)) == 60
	})
	got = values(readTopic(t, b.Addr, "groups", true))
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read_committed sees\n%v\nwant\n%v", got, want)
	}
	txnCommits.Lock()
	defer txnCommits.Unlock()
	wantCommits := []int{4, 8, 16, 20, 28, 32, 40, 44, 52, 56}
	if len(txnCommits.seen) != len(wantCommits) {
		t.Fatalf("Source.Commit got %v, want %v", txnCommits.seen, wantCommits)
	}
	for i := range wantCommits {
		if txnCommits.seen[i] != wantCommits[i] {
			t.Fatalf("Source.Commit got %v, want %v", txnCommits.seen, wantCommits)
		}
	}
	var offsets struct{ Offsets []worker.OffsetInfo }
	w.call("GET", "/connectors/txn/offsets", nil, &offsets)
	if len(offsets.Offsets) != 1 || offsets.Offsets[0].Offset != float64(56) {
		t.Fatalf("stored positions %+v, want n=56", offsets)
	}
}

// TestExactlyOnceValidate: the exactly-once settings are checked by the
// REST validate endpoint (and on create) against the plugin and the
// worker, field by field.
func TestExactlyOnceValidate(t *testing.T) {
	b := startBroker(t)
	on := startWorkerWith(t, b.Addr, "eos-on", nil, exactlyOnce(worker.ExactlyOnceEnabled))
	off := startWorkerWith(t, b.Addr, "eos-off", nil, nil)
	file := map[string]string{"connector.class": "file-source", "name": "f", "file": "/tmp/x", "topic": "t"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	cases := []struct {
		name   string
		w      *testWorker
		plugin string
		cfg    map[string]string
		field  string
		want   string // "" means no error on any field
	}{
		{"file required", on, "file-source", with(file, "exactly.once.support", "required"), "", ""},
		{"file interval", on, "file-source", with(file, "transaction.boundary", "interval", "transaction.boundary.interval.ms", "500"), "", ""},
		{"defaults", off, "file-source", file, "", ""},
		{"bad support", on, "file-source", with(file, "exactly.once.support", "maybe"), "exactly.once.support", `"maybe" is not one of requested, required`},
		{"bad boundary", on, "file-source", with(file, "transaction.boundary", "sometimes"), "transaction.boundary", `"sometimes" is not one of poll, interval, connector`},
		{"negative interval", on, "file-source", with(file, "transaction.boundary.interval.ms", "-5"), "transaction.boundary.interval.ms", "must be positive"},
		{"interval past timeout", on, "file-source", with(file, "transaction.boundary", "interval", "transaction.boundary.interval.ms", "7200000"), "transaction.boundary.interval.ms", "not shorter than the worker's transaction timeout"},
		{"file defines no transactions", on, "file-source", with(file, "transaction.boundary", "connector"), "transaction.boundary", "does not define transaction boundaries"},
		{"source-defined, misconfigured", on, "test-txn-source", map[string]string{"limit": "1", "transaction.boundary": "connector"}, "transaction.boundary", "group must be set"},
		{"undeclared plugin", on, "test-counting-source", map[string]string{"limit": "1", "exactly.once.support": "required"}, "exactly.once.support", "does not declare exactly-once support"},
		{"mqtt upstream", on, "mqtt-source", map[string]string{"exactly.once.support": "required"}, "exactly.once.support", "at-least-once upstream"},
		{"cdc snapshot", on, "postgres-cdc-source", map[string]string{"exactly.once.support": "required"}, "exactly.once.support", "snapshot.mode=never"},
		{"worker disabled", off, "file-source", with(file, "exactly.once.support", "required"), "exactly.once.support", "exactly.once.source.support is disabled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var res worker.ValidateResult
			if code := c.w.call("PUT", "/connector-plugins/"+c.plugin+"/config/validate", c.cfg, &res); code != http.StatusOK {
				t.Fatalf("validate: %d", code)
			}
			var found bool
			for _, ci := range res.Configs {
				errs := strings.Join(ci.Value.Errors, "; ")
				if c.want == "" {
					if errs != "" {
						t.Errorf("%s: unexpected errors: %s", ci.Definition.Name, errs)
					}
					continue
				}
				if ci.Definition.Name == c.field {
					found = true
					if !strings.Contains(errs, c.want) {
						t.Errorf("%s errors %q, want one containing %q", c.field, errs, c.want)
					}
				}
			}
			if c.want != "" && !found {
				t.Errorf("field %s not in the response", c.field)
			}
		})
	}
	// Create refuses what validate refuses.
	var e struct {
		Message string `json:"message"`
	}
	if code := off.call("POST", "/connectors", map[string]any{"name": "f", "config": with(file, "exactly.once.support", "required")}, &e); code != http.StatusBadRequest ||
		!strings.Contains(e.Message, "exactly.once.source.support is disabled") {
		t.Fatalf("create on a worker without exactly-once: %d %q", code, e.Message)
	}
	if _, err := worker.New(worker.Config{Brokers: []string{b.Addr}, ExactlyOnceSourceSupport: "yes"}); !errors.Is(err, worker.ErrInvalidWorkerConfig) {
		t.Fatalf("worker.New with exactly.once.source.support=yes: %v", err)
	}
}

// TestExactlyOncePreparing: a worker with exactly.once.source.support=
// preparing runs a source at-least-once, resuming from the positions an
// exactly-once run committed, and first fences the task's transactional id
// (its epoch moves on), so a transactional instance left running elsewhere
// could no longer commit.
func TestExactlyOncePreparing(t *testing.T) {
	b := startBroker(t)
	group := func(mode worker.ExactlyOnceMode) func(*worker.Config) {
		return func(c *worker.Config) { c.ExactlyOnceSourceSupport, c.GroupID = mode, "eos-test" }
	}
	cfg := map[string]string{"connector.class": "test-counting-source", "topic": "numbers", "limit": "50"}
	w := startWorkerWith(t, b.Addr, "w1", nil, group(worker.ExactlyOnceEnabled))
	w.create("count", cfg)
	waitFor(t, "50 numbers committed", func() bool { return len(readTopic(t, b.Addr, "numbers", true)) == 50 })
	adm := kadm.NewClient(client(t, b.Addr))
	epoch := func() int16 {
		d, err := adm.DescribeTransactions(context.Background(), "eos-test-count-0")
		if err != nil {
			t.Fatal(err)
		}
		tx, ok := d["eos-test-count-0"]
		if !ok || tx.Err != nil {
			t.Fatalf("describe transactional id eos-test-count-0: %+v", d)
		}
		return tx.ProducerEpoch
	}
	before := epoch()
	w.stop()

	w = startWorkerWith(t, b.Addr, "w2", nil, group(worker.ExactlyOncePreparing))
	cfg["limit"] = "80"
	w.mustCall("PUT", "/connectors/count/config", cfg, http.StatusOK)
	waitFor(t, "80 numbers", func() bool { return len(readTopic(t, b.Addr, "numbers", true)) >= 80 })
	w.stop()
	if after := epoch(); after <= before {
		t.Fatalf("transactional id epoch %d after the preparing worker ran the task, %d before: not fenced", after, before)
	}
	got := values(readTopic(t, b.Addr, "numbers", true))
	for i, v := range got {
		if v != strconv.Itoa(i+1) {
			t.Fatalf("record %d is %s (want 1..80 once each): %v", i, v, got)
		}
	}
	if len(got) != 80 {
		t.Fatalf("%d records, want 80", len(got))
	}
}

// splitSource is countingSource split into as many tasks as allowed.
type splitSource struct{ countingSource }

func (s *splitSource) TaskConfigs(_ connectors.Config, max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{"part": strconv.Itoa(i)}
	}
	return out, nil
}

func init() {
	connectors.Register(connectors.Plugin{Name: "test-split-source", Kind: connectors.KindSource,
		Spec:      connectors.ConfigSpec{{Name: "limit", Type: connectors.TypeInt, Required: true}},
		NewSource: func() connectors.Source { return &splitSource{} }})
}

// TestExactlyOnceFencesRemovedTasks: when a connector's task count
// shrinks, the transactional ids of the tasks it lost are fenced, so a
// zombie of one of them cannot commit.
func TestExactlyOnceFencesRemovedTasks(t *testing.T) {
	b := startBroker(t)
	w := startWorkerWith(t, b.Addr, "w", nil, func(c *worker.Config) {
		c.ExactlyOnceSourceSupport, c.GroupID = worker.ExactlyOnceEnabled, "g"
	})
	adm := kadm.NewClient(client(t, b.Addr))
	epochs := func() map[string]int16 {
		d, err := adm.DescribeTransactions(context.Background(), "g-split-0", "g-split-1", "g-split-2")
		if err != nil {
			return nil
		}
		out := map[string]int16{}
		for id, tx := range d {
			if tx.Err == nil {
				out[id] = tx.ProducerEpoch
			}
		}
		return out
	}
	cfg := map[string]string{"connector.class": "test-split-source", "topic": "split", "limit": "10", "tasks.max": "3"}
	w.create("split", cfg)
	var before map[string]int16
	waitFor(t, "three transactional ids", func() bool { before = epochs(); return len(before) == 3 })
	cfg["tasks.max"] = "1"
	w.mustCall("PUT", "/connectors/split/config", cfg, http.StatusOK)
	waitFor(t, "tasks 1 and 2 fenced", func() bool {
		after := epochs()
		return after["g-split-1"] > before["g-split-1"] && after["g-split-2"] > before["g-split-2"]
	})
	if st := w.waitState("split", worker.StateRunning); len(st.Tasks) != 1 {
		t.Fatalf("status %+v, want one task", st)
	}
}
