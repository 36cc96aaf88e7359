package compat

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// franzGo is franz-go: kadm creates the topic, kgo produces (idempotent,
// acks=all) and consumes in a group with synchronous commits before each
// record is reported.
var franzGo = client{
	createTopic: func(t *testing.T, addr string, s *scenario) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, s.topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("kadm create topic: %v", err)
		}
	},
	produce: func(t *testing.T, addr string, s *scenario, records []kv) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(s.topic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rs := make([]*kgo.Record, len(records))
		for i, r := range records {
			rs[i] = kgo.KeyStringRecord(r.Key, r.Value)
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("kgo produce: %v", err)
		}
	},
	startMember: func(t *testing.T, addr string, s *scenario, c *collector, id int) member {
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(addr),
			kgo.ConsumerGroup(s.group),
			kgo.ConsumeTopics(s.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.SessionTimeout(sessionTimeout),
			kgo.HeartbeatInterval(heartbeatInterval),
		)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &kgoMember{cl: cl, cancel: cancel}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil || fs.IsClientClosed() {
					return
				}
				fs.EachError(func(topic string, p int32, err error) {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("kgo member %d: fetch %s[%d]: %v", id, topic, p, err)
					}
				})
				recs := fs.Records()
				if len(recs) > 0 {
					// Commit before reporting: a reported record is a
					// committed one, so a restart must not repeat it.
					if err := cl.CommitRecords(ctx, recs...); err != nil {
						t.Errorf("kgo member %d: commit: %v", id, err)
						cl.AllowRebalance()
						return
					}
					for _, r := range recs {
						c.add(id, kv{string(r.Key), string(r.Value)})
					}
				}
				cl.AllowRebalance()
			}
		}()
		return m
	},
}

type kgoMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (m *kgoMember) stop() {
	m.cancel()
	m.wg.Wait()
	m.cl.CloseAllowingRebalance() // leaves the group
}

func TestFranzGo(t *testing.T) { runScenario(t, "franz-go", franzGo) }

// TestFranzGoBrokerKilled is the same story with the broker killed by
// SIGKILL instead of stopped: acknowledged records and committed offsets
// must survive a crash of the process.
func TestFranzGoBrokerKilled(t *testing.T) {
	runScenarioWith(t, "franz-go-kill", franzGo, func(b *brokertest.Broker) {
		b.Kill()
		b.StartAgain()
	})
}
