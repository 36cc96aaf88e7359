// Package mqtt is a source connector that subscribes to MQTT topic filters
// (github.com/eclipse/paho.mqtt.golang) and writes each message to a Kafka
// topic: the MQTT topic becomes the record key (configurable) and the
// payload the value.
//
// Delivery is at least once end to end. Messages are received with QoS 1 on
// a persistent session (clean session off, fixed client id) and acknowledged
// to the MQTT broker only when the worker reports them durably in the log
// (Source.Commit), so a message is never lost to a crash: the broker
// redelivers what was not acknowledged, including messages published while
// the connector was down.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluicehq/sluice/connectors"
)

// Plugin is the name users put in connector.class.
const Plugin = "mqtt-source"

func init() {
	connectors.Register(connectors.Plugin{
		Name: Plugin,
		Kind: connectors.KindSource,
		Doc: "Subscribes to MQTT topic filters on a persistent session and writes messages to Kafka topics; " +
			"a message is acknowledged to the MQTT broker only once it is durably in the log.",
		Spec:      Spec,
		NewSource: func() connectors.Source { return NewSource() },
	})
}

// Record headers set on every record.
const (
	HeaderTopic     = "mqtt.topic"
	HeaderQoS       = "mqtt.qos"
	HeaderRetained  = "mqtt.retained"
	HeaderDuplicate = "mqtt.duplicate"
	HeaderMessageID = "mqtt.message.id"
)

// ErrClosed is returned by Poll after Close.
var ErrClosed = errors.New("mqtt source closed")

// position is the source offset: a sequence number of messages handed to
// the worker, per client id. The MQTT broker, not the position, decides what
// is redelivered after a restart; the sequence lets Commit find which
// received messages it covers.
type position struct {
	Seq uint64 `json:"seq"`
}

type pending struct {
	seq uint64
	msg paho.Message
}

// Source is one MQTT source task.
type Source struct {
	cfg       *config
	log       *slog.Logger
	client    paho.Client
	partition string

	msgs   chan paho.Message // filled by paho's router goroutine
	stop   chan struct{}     // closed by Close; unblocks the handler
	closed bool

	subscribedOnce sync.Once
	subscribed     chan struct{} // closed after the first successful subscribe
	seq            uint64        // last sequence number handed out
	pending        []pending     // polled but not yet acknowledged, in order
}

// NewSource returns an unopened source; the worker calls Open.
func NewSource() *Source { return &Source{} }

var _ connectors.Source = (*Source)(nil)

// Open connects with a persistent session and subscribes. It fails with a
// retriable error when the broker cannot be reached.
func (s *Source) Open(ctx context.Context, task connectors.TaskInfo, raw connectors.Config, committed connectors.Positions) error {
	cfg, err := parseConfig(raw, task)
	if err != nil {
		return err
	}
	s.cfg = cfg
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.partition = "mqtt:" + cfg.clientID
	var pos position
	if _, err := committed.Decode(s.partition, &pos); err != nil {
		return err
	}
	s.seq = pos.Seq
	s.msgs = make(chan paho.Message, cfg.maxPending)
	s.stop = make(chan struct{})
	s.subscribed = make(chan struct{})

	opts := paho.NewClientOptions().
		SetClientID(cfg.clientID).
		SetCleanSession(cfg.cleanSession).
		SetUsername(cfg.username).
		SetPassword(cfg.password).
		SetAutoAckDisabled(true). // acknowledged in Commit, once in the log
		SetOrderMatters(true).    // one handler at a time, in arrival order
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetKeepAlive(cfg.keepAlive).
		SetConnectTimeout(cfg.connectTimeout).
		SetMaxReconnectInterval(cfg.maxReconnect).
		// With a persistent session the broker sends queued messages as
		// soon as the session resumes, before any Subscribe: they arrive
		// at the default handler.
		SetDefaultPublishHandler(s.handle).
		SetOnConnectHandler(s.subscribe).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			s.log.Warn("mqtt connection lost; reconnecting (unacknowledged messages will be redelivered)", "error", err)
		})
	if cfg.tls != nil {
		opts.SetTLSConfig(cfg.tls)
	}
	for _, b := range cfg.brokers {
		opts.AddBroker(b)
	}
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		s.client.Disconnect(0)
		return ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return connectors.Retriable(fmt.Errorf("mqtt connect to %v as %q: %w", cfg.brokers, cfg.clientID, err))
	}
	// Return once the subscription is in place, so that messages published
	// after Open are certain to reach the session.
	timer := time.NewTimer(cfg.connectTimeout)
	defer timer.Stop()
	select {
	case <-s.subscribed:
		return nil
	case <-timer.C:
		s.Close(ctx)
		return connectors.Retriable(fmt.Errorf("mqtt subscribe to %v: no acknowledgement within %s", cfg.filters, cfg.connectTimeout))
	case <-ctx.Done():
		s.Close(ctx)
		return ctx.Err()
	}
}

// subscribe (re)subscribes to the filters on every connect. A failure is
// logged; on the first connect Open then fails with a retriable error.
func (s *Source) subscribe(c paho.Client) {
	filters := make(map[string]byte, len(s.cfg.filters))
	for _, f := range s.cfg.filters {
		filters[f] = s.cfg.qos
	}
	tok := c.SubscribeMultiple(filters, s.handle)
	go func() { // the connect handler must not block paho's connection setup
		if !tok.WaitTimeout(s.cfg.connectTimeout) || tok.Error() != nil {
			s.log.Error("mqtt subscribe failed", "filters", s.cfg.filters, "error", tok.Error())
			return
		}
		if st, ok := tok.(*paho.SubscribeToken); ok {
			for filter, code := range st.Result() {
				if code == 0x80 {
					s.log.Error("mqtt broker refused subscription", "filter", filter)
					return
				}
			}
		}
		s.log.Info("mqtt subscribed", "filters", s.cfg.filters, "qos", s.cfg.qos, "client_id", s.cfg.clientID)
		s.subscribedOnce.Do(func() { close(s.subscribed) })
	}()
}

// handle runs on paho's router goroutine. It blocks while max.pending
// messages wait to be polled, so the MQTT broker holds the rest (back
// pressure) rather than this process.
func (s *Source) handle(_ paho.Client, m paho.Message) {
	select {
	case s.msgs <- m:
	case <-s.stop:
	}
}

// Poll returns the messages received so far, waiting up to poll.interval
// for the first one.
func (s *Source) Poll(ctx context.Context) ([]connectors.Record, error) {
	if s.client == nil {
		return nil, ErrClosed
	}
	timer := time.NewTimer(s.cfg.pollWait)
	defer timer.Stop()
	var out []connectors.Record
	select {
	case m := <-s.msgs:
		out = append(out, s.record(m))
	case <-timer.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stop:
		return nil, ErrClosed
	}
	for len(out) < s.cfg.batchSize {
		select {
		case m := <-s.msgs:
			out = append(out, s.record(m))
		default:
			return out, nil
		}
	}
	return out, nil
}

func (s *Source) record(m paho.Message) connectors.Record {
	s.seq++
	s.pending = append(s.pending, pending{seq: s.seq, msg: m})
	topic := m.Topic()
	r := connectors.Record{
		Topic:     kafkaTopicName(s.cfg.topic.render(topic)),
		Value:     m.Payload(),
		Timestamp: time.Now(),
		Headers: []connectors.Header{
			{Key: HeaderTopic, Value: []byte(topic)},
			{Key: HeaderQoS, Value: []byte{'0' + m.Qos()}},
			{Key: HeaderRetained, Value: []byte(strconv.FormatBool(m.Retained()))},
			{Key: HeaderDuplicate, Value: []byte(strconv.FormatBool(m.Duplicate()))},
			{Key: HeaderMessageID, Value: []byte(strconv.Itoa(int(m.MessageID())))},
		},
		Position: connectors.Position{Partition: s.partition, Offset: []byte(`{"seq":` + strconv.FormatUint(s.seq, 10) + `}`)},
	}
	if s.cfg.key != nil {
		r.Key = []byte(s.cfg.key.render(topic))
	}
	if r.Value == nil {
		r.Value = []byte{} // an empty payload is a message, not a tombstone
	}
	return r
}

// Commit acknowledges, in arrival order, every message up to the committed
// position: they are durably in the log.
func (s *Source) Commit(ctx context.Context, positions []connectors.Position) error {
	var upTo uint64
	for _, p := range positions {
		if p.Partition != s.partition {
			continue
		}
		var pos position
		if err := jsonUnmarshal(p.Offset, &pos); err != nil {
			return fmt.Errorf("commit position %s: %w", p.Partition, err)
		}
		upTo = max(upTo, pos.Seq)
	}
	n := 0
	for n < len(s.pending) && s.pending[n].seq <= upTo {
		s.pending[n].msg.Ack()
		s.pending[n].msg = nil
		n++
	}
	s.pending = s.pending[n:]
	return nil
}

// Close disconnects without acknowledging what was not committed; the MQTT
// broker keeps those messages for the session and redelivers them.
func (s *Source) Close(ctx context.Context) error {
	if s.stop != nil && !s.closed {
		close(s.stop)
		s.closed = true
	}
	if s.client != nil {
		s.client.Disconnect(250)
		s.client = nil
	}
	s.pending = nil
	return nil
}
