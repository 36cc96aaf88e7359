package broker

import (
	"container/list"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionPartition is one partition in an incremental fetch session
// (KIP-227): the client's last fetch offset and what it was last told, so
// unchanged partitions can be left out of incremental responses.
type sessionPartition struct {
	topic       string
	topicID     [16]byte
	partition   int32
	fetchOffset int64
	maxBytes    int32

	sent              bool
	hw, lso, logStart int64
}

type tpKey struct {
	topic     string
	partition int32
}

// fetchSession is a cached fetch session. Clients use a session from one
// fetch at a time; mu guards against misbehaving ones.
type fetchSession struct {
	mu    sync.Mutex
	id    int32
	epoch int32 // the epoch the next incremental request must carry
	parts []*sessionPartition
	index map[tpKey]*sessionPartition
	elem  *list.Element
}

// fetchSessions is the broker's session cache, evicting the least recently
// used session when full.
type fetchSessions struct {
	mu     sync.Mutex
	max    int
	nextID int32
	byID   map[int32]*fetchSession
	lru    *list.List // front = most recent
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, byID: make(map[int32]*fetchSession), lru: list.New(), nextID: 1}
}

func (fs *fetchSessions) len() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.byID)
}

func (fs *fetchSessions) create() *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.max <= 0 {
		return nil
	}
	for len(fs.byID) >= fs.max {
		old := fs.lru.Back().Value.(*fetchSession)
		fs.lru.Remove(old.elem)
		delete(fs.byID, old.id)
	}
	for fs.byID[fs.nextID] != nil || fs.nextID <= 0 {
		fs.nextID++
		if fs.nextID <= 0 {
			fs.nextID = 1
		}
	}
	s := &fetchSession{id: fs.nextID, epoch: 1, index: make(map[tpKey]*sessionPartition)}
	fs.nextID++
	s.elem = fs.lru.PushFront(s)
	fs.byID[s.id] = s
	return s
}

func (fs *fetchSessions) get(id int32) *fetchSession {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.byID[id]
	if s != nil {
		fs.lru.MoveToFront(s.elem)
	}
	return s
}

func (fs *fetchSessions) remove(id int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s := fs.byID[id]; s != nil {
		fs.lru.Remove(s.elem)
		delete(fs.byID, id)
	}
}

// fetchPlan is what one Fetch request reads: its partitions, and the
// session (if any) whose state the response updates.
type fetchPlan struct {
	parts       []*sessionPartition
	session     *fetchSession
	incremental bool
	errCode     int16
}

// plan resolves a request against the session cache.
func (b *Broker) plan(req *kmsg.FetchRequest, version int16) fetchPlan {
	fromRequest := func() []*sessionPartition {
		var out []*sessionPartition
		for i := range req.Topics {
			rt := &req.Topics[i]
			name, id := b.resolveFetchTopic(rt.Topic, rt.TopicID, version)
			for _, rp := range rt.Partitions {
				out = append(out, &sessionPartition{topic: name, topicID: id, partition: rp.Partition, fetchOffset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes})
			}
		}
		return out
	}
	fs := b.sessions
	if version < 7 || (req.SessionID == 0 && req.SessionEpoch == -1) {
		return fetchPlan{parts: fromRequest()}
	}
	if req.SessionEpoch == -1 {
		fs.remove(req.SessionID)
		return fetchPlan{parts: fromRequest()}
	}
	if req.SessionEpoch == 0 {
		if req.SessionID != 0 {
			fs.remove(req.SessionID)
		}
		parts := fromRequest()
		s := fs.create()
		if s != nil {
			s.mu.Lock()
			for _, sp := range parts {
				k := tpKey{sp.topic, sp.partition}
				if s.index[k] == nil {
					s.parts = append(s.parts, sp)
				}
				s.index[k] = sp
			}
			s.mu.Unlock()
		}
		return fetchPlan{parts: parts, session: s}
	}
	s := fs.get(req.SessionID)
	if s == nil {
		return fetchPlan{errCode: kerr.FetchSessionIDNotFound.Code}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.SessionEpoch != s.epoch {
		return fetchPlan{errCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	s.epoch++
	if s.epoch <= 0 {
		s.epoch = 1
	}
	for _, sp := range fromRequest() {
		k := tpKey{sp.topic, sp.partition}
		if old := s.index[k]; old != nil {
			old.fetchOffset, old.maxBytes, old.topicID = sp.fetchOffset, sp.maxBytes, sp.topicID
			continue
		}
		s.index[k] = sp
		s.parts = append(s.parts, sp)
	}
	if len(req.ForgottenTopics) > 0 {
		for _, ft := range req.ForgottenTopics {
			name, _ := b.resolveFetchTopic(ft.Topic, ft.TopicID, version)
			for _, p := range ft.Partitions {
				delete(s.index, tpKey{name, p})
			}
		}
		kept := s.parts[:0]
		for _, sp := range s.parts {
			if s.index[tpKey{sp.topic, sp.partition}] == sp {
				kept = append(kept, sp)
			}
		}
		s.parts = kept
	}
	parts := make([]*sessionPartition, len(s.parts))
	copy(parts, s.parts)
	return fetchPlan{parts: parts, session: s, incremental: true}
}

// resolveFetchTopic returns the name and id of a fetched topic: by name
// before v13, by id from v13 (an unknown id yields an empty name).
func (b *Broker) resolveFetchTopic(name string, id [16]byte, version int16) (string, [16]byte) {
	if version >= 13 {
		if t := b.topics.getID(id); t != nil {
			return t.name, id
		}
		return "", id
	}
	if t := b.topics.get(name); t != nil {
		return name, t.id
	}
	return name, id
}
