package broker

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"sort"
	"sync"

	"github.com/sluicehq/sluice/log/storage"
)

// offsetsTopic is Kafka's internal topic for committed offsets and group
// metadata.
const offsetsTopic = "__consumer_offsets"

// topic is one topic: its identity, configuration and partitions. Fields are
// read under topics.mu (read lock) and replaced under the write lock.
type topic struct {
	name      string
	id        [16]byte
	internal  bool
	overrides map[string]string // configs set on the topic itself
	cfg       storage.Config
	parts     []*partition
}

// partition is one partition of a topic with its log and its long-poll
// waiters.
type partition struct {
	topic string
	index int32
	log   *storage.Log
	// offline is why the log could not be opened (nil when it is
	// serving): the partition answers KAFKA_STORAGE_ERROR while the rest
	// of the broker keeps serving.
	offline error

	// appendMu serializes writers: storage allows one writer per log.
	appendMu sync.Mutex

	waitMu  sync.Mutex
	waiters []chan struct{}
}

// wait registers ch to be signalled on the next append.
func (p *partition) wait(ch chan struct{}) {
	p.waitMu.Lock()
	p.waiters = append(p.waiters, ch)
	p.waitMu.Unlock()
}

// unwait removes ch (a fetch that finished without being woken).
func (p *partition) unwait(ch chan struct{}) {
	p.waitMu.Lock()
	for i, w := range p.waiters {
		if w == ch {
			last := len(p.waiters) - 1
			p.waiters[i] = p.waiters[last]
			p.waiters[last] = nil
			p.waiters = p.waiters[:last]
			break
		}
	}
	p.waitMu.Unlock()
}

// notify wakes every waiter (non-blocking: each channel has room for one).
func (p *partition) notify() {
	p.waitMu.Lock()
	ws := p.waiters
	p.waiters = nil
	p.waitMu.Unlock()
	for _, ch := range ws {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// topics is the broker's topic registry, persisted in meta/topics.json.
type topics struct {
	mu     sync.RWMutex
	byName map[string]*topic
	byID   map[[16]byte]*topic
	path   string

	// persistMu serializes writes of topics.json.
	persistMu sync.Mutex
}

var (
	errTopicExists  = errors.New("topic already exists")
	errUnknownTopic = errors.New("unknown topic")
)

func newTopics(dataDir string) *topics {
	return &topics{
		byName: make(map[string]*topic),
		byID:   make(map[[16]byte]*topic),
		path:   filepath.Join(dataDir, metaDir, "topics.json"),
	}
}

func (ts *topics) get(name string) *topic {
	ts.mu.RLock()
	t := ts.byName[name]
	ts.mu.RUnlock()
	return t
}

func (ts *topics) getID(id [16]byte) *topic {
	ts.mu.RLock()
	t := ts.byID[id]
	ts.mu.RUnlock()
	return t
}

// partition returns the named partition or nil.
func (ts *topics) partition(name string, index int32) *partition {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	t := ts.byName[name]
	if t == nil || index < 0 || int(index) >= len(t.parts) {
		return nil
	}
	return t.parts[index]
}

func (ts *topics) exists(name string, index int32) bool { return ts.partition(name, index) != nil }

// list returns topics sorted by name.
func (ts *topics) list() []*topic {
	ts.mu.RLock()
	out := make([]*topic, 0, len(ts.byName))
	for _, t := range ts.byName {
		out = append(out, t)
	}
	ts.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (ts *topics) add(t *topic) {
	ts.mu.Lock()
	ts.byName[t.name] = t
	ts.byID[t.id] = t
	ts.mu.Unlock()
}

func (ts *topics) remove(t *topic) {
	ts.mu.Lock()
	if ts.byName[t.name] == t {
		delete(ts.byName, t.name)
		delete(ts.byID, t.id)
	}
	ts.mu.Unlock()
}

// persist writes the registry to disk crash-safely.
func (ts *topics) persist() error {
	ts.persistMu.Lock()
	defer ts.persistMu.Unlock()
	f := topicsFile{Version: 1}
	for _, t := range ts.list() {
		ts.mu.RLock()
		rec := topicRecord{
			Name:       t.name,
			ID:         hex.EncodeToString(t.id[:]),
			Partitions: int32(len(t.parts)),
			Internal:   t.internal,
			Configs:    maps.Clone(t.overrides),
		}
		ts.mu.RUnlock()
		f.Topics = append(f.Topics, rec)
	}
	if err := writeJSON(ts.path, f); err != nil {
		return fmt.Errorf("persisting topic metadata: %w", err)
	}
	return nil
}

// load reads topics.json (missing means no topics yet).
func (ts *topics) load() ([]topicRecord, bool, error) {
	var f topicsFile
	found, err := readJSON(ts.path, &f)
	if err != nil {
		return nil, false, fmt.Errorf("loading topic metadata: %w", err)
	}
	return f.Topics, found, nil
}
