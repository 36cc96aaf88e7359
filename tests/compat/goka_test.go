package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
)

// gokaConfig is goka's own default sarama config (protocol 2.0, acks=1,
// snappy batches) with short group timeouts; new groups start at the
// oldest offset. Each builder gets its own copy, as goka's builders write
// the client ID into the config they are given.
func gokaConfig() *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = sessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = heartbeatInterval
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func gokaTopicManager() goka.TopicManagerBuilder {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = 1
	tmc.Stream.Replication = 1
	return goka.TopicManagerBuilderWithConfig(gokaConfig(), tmc)
}

// valuesCodec stores a key's consumed values, in arrival order, as the
// group table's value: a repeated record shows up as a repeated value.
type valuesCodec struct{}

func (valuesCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }

func (valuesCodec) Decode(b []byte) (any, error) {
	var vs []string
	err := json.Unmarshal(b, &vs)
	return vs, err
}

// gokaClient is goka: an emitter produces (its topic manager creates the
// stream topic), a processor group of two instances consumes it and keeps
// every key's values in a group table (a compacted changelog topic), and a
// view of that table must show every value exactly once after the restart.
var gokaClient = client{
	createTopic: func(t *testing.T, addr string, s *scenario) {
		tm, err := gokaTopicManager()([]string{addr})
		if err != nil {
			t.Fatalf("goka topic manager: %v", err)
		}
		defer tm.Close()
		if err := tm.EnsureStreamExists(s.topic, partitions); err != nil {
			t.Fatalf("goka ensure stream: %v", err)
		}
	},
	produce: func(t *testing.T, addr string, s *scenario, records []kv) {
		em, err := goka.NewEmitter([]string{addr}, goka.Stream(s.topic), new(codec.String),
			goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(gokaConfig())),
			goka.WithEmitterTopicManagerBuilder(gokaTopicManager()),
		)
		if err != nil {
			t.Fatalf("goka emitter: %v", err)
		}
		// Emit asynchronously (EmitSync waits a producer flush interval per
		// record) and check every promise once Finish has waited for all.
		var (
			mu   sync.Mutex
			errs []error
		)
		for _, r := range records {
			p, err := em.Emit(r.Key, r.Value)
			if err != nil {
				t.Fatalf("goka emit: %v", err)
			}
			p.Then(func(err error) {
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		if err := em.Finish(); err != nil {
			t.Fatalf("goka emitter finish: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("goka emit: %d records failed, first: %v", len(errs), errs[0])
		}
	},
	startMember: func(t *testing.T, addr string, s *scenario, c *collector, id int) member {
		g := goka.DefineGroup(goka.Group(s.group),
			goka.Input(goka.Stream(s.topic), new(codec.String), func(ctx goka.Context, msg any) {
				var vs []string
				if v := ctx.Value(); v != nil {
					vs = v.([]string)
				}
				ctx.SetValue(append(vs, msg.(string)))
				c.add(id, kv{ctx.Key(), msg.(string)})
			}),
			goka.Persist(valuesCodec{}),
		)
		p, err := goka.NewProcessor([]string{addr}, g,
			goka.WithClientID(fmt.Sprintf("goka-compat-%d", id)),
			goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(gokaConfig())),
			goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(gokaConfig())),
			goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(gokaConfig())),
			goka.WithTopicManagerBuilder(gokaTopicManager()),
			// In memory: every start restores the table from its changelog
			// topic on the broker, so the restart is tested on that too.
			goka.WithStorageBuilder(storage.MemoryBuilder()),
		)
		if err != nil {
			t.Fatalf("goka processor: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &gokaMember{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			if err := p.Run(ctx); err != nil {
				t.Errorf("goka processor %d: %v", id, err)
			}
		}()
		return m
	},
	verify: func(t *testing.T, addr string, s *scenario) {
		// A view reads the group table; every key must hold exactly the
		// values produced for it in all phases, each once.
		view, err := goka.NewView([]string{addr}, goka.GroupTable(goka.Group(s.group)), valuesCodec{},
			goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(gokaConfig())),
			goka.WithViewTopicManagerBuilder(gokaTopicManager()),
			goka.WithViewStorageBuilder(storage.MemoryBuilder()),
		)
		if err != nil {
			t.Fatalf("goka view: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := view.Run(ctx); err != nil {
				t.Errorf("goka view: %v", err)
			}
		}()
		defer func() { cancel(); wg.Wait() }()

		want := map[string][]string{}
		for _, r := range append(append(append([]kv{}, s.before...), s.afterOld...), s.afterNew...) {
			want[r.Key] = append(want[r.Key], r.Value)
		}
		deadline := time.Now().Add(waitTimeout)
		var diff string
		for time.Now().Before(deadline) {
			if view.Recovered() {
				if diff = tableDiff(view, want); diff == "" {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("goka view of %s-table never matched what was produced: %s", s.group, diff)
	},
}

// tableDiff compares the view with want (values per key, in any order);
// it returns "" when they match exactly.
func tableDiff(view *goka.View, want map[string][]string) string {
	var diffs []string
	for key, vals := range want {
		v, err := view.Get(key)
		if err != nil {
			return err.Error()
		}
		var got []string
		if v != nil {
			got = append(got, v.([]string)...)
		}
		w := append([]string(nil), vals...)
		sort.Strings(got)
		sort.Strings(w)
		if strings.Join(got, ",") != strings.Join(w, ",") {
			diffs = append(diffs, fmt.Sprintf("%s: got %d values, want %d", key, len(got), len(w)))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

type gokaMember struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// stop shuts the processor down cleanly: it finishes the records in hand,
// commits their offsets and leaves the group.
func (m *gokaMember) stop() {
	m.cancel()
	<-m.done
}

func TestGoka(t *testing.T) { runScenario(t, "goka", gokaClient) }
