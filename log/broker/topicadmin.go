package broker

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/sluicehq/sluice/log/storage"
)

// loadTopics reopens every topic in meta/topics.json. Partition directories
// on disk that the registry does not know (a crash between a delete's
// metadata write and its file removal) are removed; if the registry file is
// missing altogether but partitions exist, they are adopted with default
// configs rather than deleted.
func (b *Broker) loadTopics() error {
	recs, found, err := b.topics.load()
	if err != nil {
		return err
	}
	onDisk, err := b.store.OnDisk()
	if err != nil {
		return fmt.Errorf("listing partitions on disk: %w", err)
	}
	if !found && len(onDisk) > 0 {
		counts := map[string]int32{}
		for _, tp := range onDisk {
			if tp.Partition+1 > counts[tp.Topic] {
				counts[tp.Topic] = tp.Partition + 1
			}
		}
		for name, n := range counts {
			b.log.Warn("topic metadata missing; adopting partitions found on disk", "topic", name, "partitions", n)
			recs = append(recs, topicRecord{Name: name, Partitions: n, Internal: name == offsetsTopic})
		}
	}
	known := map[storage.TopicPartition]bool{}
	for _, r := range recs {
		id := newTopicID()
		if r.ID != "" {
			if id, err = parseTopicID(r.ID); err != nil {
				return fmt.Errorf("topic %q: %w", r.Name, err)
			}
		}
		cfg, err := storage.ParseTopicConfig(b.cfg.TopicDefaults, r.Configs)
		if err != nil {
			return fmt.Errorf("topic %q config: %w", r.Name, err)
		}
		t := &topic{name: r.Name, id: id, internal: r.Internal, overrides: r.Configs, cfg: cfg}
		if t.overrides == nil {
			t.overrides = map[string]string{}
		}
		for i := int32(0); i < r.Partitions; i++ {
			tp := storage.TopicPartition{Topic: r.Name, Partition: i}
			known[tp] = true
			l, err := b.store.Open(tp, cfg)
			if err != nil {
				// One unreadable partition must not take the
				// broker down: it goes offline, the rest serves.
				b.log.Error("partition offline: cannot open its log", "topic", r.Name, "partition", i, "err", err)
				t.parts = append(t.parts, &partition{topic: r.Name, index: i, offline: fmt.Errorf("opening %s-%d: %w", r.Name, i, err)})
				continue
			}
			// This node is the partition's only replica, so everything
			// that survived recovery is committed: the checkpointed high
			// watermark can lag the log end by a checkpoint interval after
			// a crash, and acknowledged records must not stay invisible
			// until the next produce moves it.
			l.SetHighWatermark(l.LogEndOffset())
			t.parts = append(t.parts, &partition{topic: r.Name, index: i, log: l})
		}
		b.topics.add(t)
	}
	for _, tp := range onDisk {
		if !known[tp] {
			b.log.Warn("removing partition directory of a deleted topic", "topic", tp.Topic, "partition", tp.Partition)
			if err := b.store.Delete(tp); err != nil {
				b.log.Error("removing orphan partition", "topic", tp.Topic, "partition", tp.Partition, "err", err)
			}
		}
	}
	if !found {
		return b.topics.persist()
	}
	return nil
}

var (
	errInvalidTopic      = errors.New("invalid topic name")
	errInvalidPartitions = errors.New("invalid partition count")
)

// validTopicName applies Kafka's rules: 1–249 characters of [a-zA-Z0-9._-],
// not "." or "..".
func validTopicName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 249 {
		return fmt.Errorf("%w %q", errInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q: character %q is not allowed (only a-z A-Z 0-9 . _ -)", errInvalidTopic, name, c)
		}
	}
	return nil
}

// createTopic creates and persists a topic. validateOnly checks everything
// but changes nothing.
func (b *Broker) createTopic(name string, partitions int32, configs map[string]string, internal, validateOnly bool) (*topic, error) {
	if err := validTopicName(name); err != nil {
		return nil, err
	}
	if partitions <= 0 || partitions > b.cfg.MaxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: %d (allowed 1..%d)", errInvalidPartitions, partitions, b.cfg.MaxPartitionsPerTopic)
	}
	cfg, err := storage.ParseTopicConfig(b.cfg.TopicDefaults, configs)
	if err != nil {
		return nil, err
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.topics.get(name) != nil {
		return nil, fmt.Errorf("%w: %q", errTopicExists, name)
	}
	if strings.ContainsAny(name, "._") {
		// Kafka refuses names that differ only in '.' versus '_': they
		// collide in metric names.
		norm := strings.ReplaceAll(name, ".", "_")
		for _, t := range b.topics.list() {
			if strings.ReplaceAll(t.name, ".", "_") == norm {
				return nil, fmt.Errorf("%w %q: collides with existing topic %q ('.' and '_' are interchangeable in metric names)", errInvalidTopic, name, t.name)
			}
		}
	}
	if validateOnly {
		return &topic{name: name, cfg: cfg, overrides: configs}, nil
	}
	t := &topic{name: name, id: newTopicID(), internal: internal, overrides: maps.Clone(configs), cfg: cfg}
	if t.overrides == nil {
		t.overrides = map[string]string{}
	}
	for i := int32(0); i < partitions; i++ {
		tp := storage.TopicPartition{Topic: name, Partition: i}
		l, err := b.store.Open(tp, cfg)
		if err != nil {
			for _, p := range t.parts {
				_ = b.store.Delete(storage.TopicPartition{Topic: name, Partition: p.index})
			}
			return nil, fmt.Errorf("creating %s-%d: %w", name, i, err)
		}
		t.parts = append(t.parts, &partition{topic: name, index: i, log: l})
	}
	b.topics.add(t)
	if err := b.topics.persist(); err != nil {
		b.topics.remove(t)
		for _, p := range t.parts {
			_ = b.store.Delete(storage.TopicPartition{Topic: name, Partition: p.index})
		}
		return nil, err
	}
	b.log.Info("topic created", "topic", name, "partitions", partitions)
	return t, nil
}

// deleteTopic removes a topic: first from the persisted registry (so a crash
// afterwards finishes the deletion on restart), then its files.
func (b *Broker) deleteTopic(t *topic) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	if b.topics.get(t.name) != t {
		return fmt.Errorf("%w: %q", errUnknownTopic, t.name)
	}
	b.topics.remove(t)
	if err := b.topics.persist(); err != nil {
		b.topics.add(t)
		return err
	}
	for _, p := range t.parts {
		p.appendMu.Lock()
		if err := b.store.Delete(storage.TopicPartition{Topic: t.name, Partition: p.index}); err != nil {
			b.log.Error("deleting partition files", "topic", t.name, "partition", p.index, "err", err)
		}
		p.appendMu.Unlock()
		p.notify()
	}
	b.log.Info("topic deleted", "topic", t.name)
	return nil
}

// addPartitions grows a topic to count partitions.
func (b *Broker) addPartitions(t *topic, count int32, validateOnly bool) error {
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.topics.mu.RLock()
	have := int32(len(t.parts))
	cfg := t.cfg
	b.topics.mu.RUnlock()
	if count <= have {
		return fmt.Errorf("%w: topic %q has %d partitions; the count can only grow", errInvalidPartitions, t.name, have)
	}
	if count > b.cfg.MaxPartitionsPerTopic {
		return fmt.Errorf("%w: %d exceeds the limit %d", errInvalidPartitions, count, b.cfg.MaxPartitionsPerTopic)
	}
	if validateOnly {
		return nil
	}
	var added []*partition
	for i := have; i < count; i++ {
		l, err := b.store.Open(storage.TopicPartition{Topic: t.name, Partition: i}, cfg)
		if err != nil {
			for _, p := range added {
				_ = b.store.Delete(storage.TopicPartition{Topic: t.name, Partition: p.index})
			}
			return fmt.Errorf("creating %s-%d: %w", t.name, i, err)
		}
		added = append(added, &partition{topic: t.name, index: i, log: l})
	}
	b.topics.mu.Lock()
	t.parts = append(t.parts[:have:have], added...)
	b.topics.mu.Unlock()
	return b.topics.persist()
}

// setTopicConfig replaces a topic's explicit configs and applies them live.
func (b *Broker) setTopicConfig(t *topic, overrides map[string]string, validateOnly bool) error {
	cfg, err := storage.ParseTopicConfig(b.cfg.TopicDefaults, overrides)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	b.adminMu.Lock()
	defer b.adminMu.Unlock()
	b.topics.mu.Lock()
	t.overrides, t.cfg = overrides, cfg
	parts := t.parts
	b.topics.mu.Unlock()
	for _, p := range parts {
		if p.offline == nil {
			p.log.SetConfig(cfg)
		}
	}
	return b.topics.persist()
}
