package compat

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaConfig is what a sarama user would set for this scenario: a recent
// protocol version, acks=all, manual commits, short heartbeats.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "sluice-compat-sarama"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = sessionTimeout
	cfg.Consumer.Group.Heartbeat.Interval = heartbeatInterval
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	return cfg
}

var saramaClient = client{
	createTopic: func(t *testing.T, addr string, s *scenario) {
		adm, err := sarama.NewClusterAdmin([]string{addr}, saramaConfig())
		if err != nil {
			t.Fatalf("sarama admin: %v", err)
		}
		defer adm.Close()
		if err := adm.CreateTopic(s.topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
			t.Fatalf("sarama create topic: %v", err)
		}
	},
	produce: func(t *testing.T, addr string, s *scenario, records []kv) {
		p, err := sarama.NewSyncProducer([]string{addr}, saramaConfig())
		if err != nil {
			t.Fatalf("sarama producer: %v", err)
		}
		defer p.Close()
		msgs := make([]*sarama.ProducerMessage, len(records))
		for i, r := range records {
			msgs[i] = &sarama.ProducerMessage{Topic: s.topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		}
		if err := p.SendMessages(msgs); err != nil {
			t.Fatalf("sarama produce: %v", err)
		}
	},
	startMember: func(t *testing.T, addr string, s *scenario, c *collector, id int) member {
		g, err := sarama.NewConsumerGroup([]string{addr}, s.group, saramaConfig())
		if err != nil {
			t.Fatalf("sarama consumer group: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &saramaMember{g: g, cancel: cancel}
		m.wg.Add(2)
		go func() {
			defer m.wg.Done()
			for err := range g.Errors() {
				t.Errorf("sarama member %d: %v", id, err)
			}
		}()
		go func() {
			defer m.wg.Done()
			h := &saramaHandler{c: c, id: id}
			// Consume returns at every rebalance; call it again until
			// stopped, as sarama's documentation prescribes.
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{s.topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					t.Errorf("sarama member %d: consume: %v", id, err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
		return m
	},
}

type saramaHandler struct {
	c  *collector
	id int
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			// Take whatever else is already fetched, commit the batch
			// synchronously, and only then report it: a reported record is
			// a committed one. (One commit per batch, not per message:
			// sarama shares one connection per broker, so a commit waits
			// behind the fetch long poll, as it would with Kafka.)
			batch := []*sarama.ConsumerMessage{msg}
		more:
			for len(batch) < 1000 {
				select {
				case m, ok := <-claim.Messages():
					if !ok {
						break more
					}
					batch = append(batch, m)
				default:
					break more
				}
			}
			for _, m := range batch {
				sess.MarkMessage(m, "")
			}
			sess.Commit()
			for _, m := range batch {
				h.c.add(h.id, kv{string(m.Key), string(m.Value)})
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

type saramaMember struct {
	g      sarama.ConsumerGroup
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (m *saramaMember) stop() {
	m.cancel()
	if err := m.g.Close(); err != nil {
		panic(err)
	}
	m.wg.Wait()
}

func TestSarama(t *testing.T) { runScenario(t, "sarama", saramaClient) }
