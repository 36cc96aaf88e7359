package group

import (
	"bytes"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// state is a classic group's state, named as Kafka names them in
// DescribeGroups and ListGroups.
type state int8

const (
	stateEmpty state = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s state) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[s]
}

type offset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitMs    int64
	// order is when the commit was written, among the group's commits
	// (log order, also on replay): a transaction's offsets apply at its
	// commit marker only over commits written before them.
	order int64
}

type protocol struct {
	name     string
	metadata []byte
}

type joinResult struct {
	resp *kmsg.JoinGroupResponse
}

type syncResult struct {
	code       int16
	assignment []byte
}

type member struct {
	id, instanceID       string
	clientID, clientHost string
	protocols            []protocol
	session, rebalance   time.Duration
	assignment           []byte

	// joinCh is set while the member waits in JoinGroup for the
	// rebalance to complete; syncCh while it waits in SyncGroup.
	joinCh chan joinResult
	syncCh chan syncResult
	// synced: the member sent SyncGroup for the current generation.
	synced bool

	deadline time.Time
	timer    *time.Timer
}

func (m *member) instancePtr() *string {
	if m.instanceID == "" {
		return nil
	}
	s := m.instanceID
	return &s
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func sameProtocols(a, b []protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || !bytes.Equal(a[i].metadata, b[i].metadata) {
			return false
		}
	}
	return true
}

// group is one consumer group. Every field is guarded by mu; timers take mu
// when they fire and check that what they were armed for still holds.
type group struct {
	c    *Coordinator
	name string

	mu           sync.Mutex
	state        state
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // KIP-394 member ids handed out, not yet joined
	offsets      map[string]map[int32]offset
	// txnOffsets: producer id -> offsets its open transaction committed,
	// invisible to OffsetFetch until the transaction commits.
	txnOffsets map[int64]map[string]map[int32]offset
	commits    int64 // numbers commits for offset.order

	rebalanceTimer *time.Timer
	rebalanceToken int64
	// delayUntil holds the join barrier of a group that was empty open
	// for group.initial.rebalance.delay.ms.
	delayUntil time.Time
	stateSince time.Time
}

func newGroup(c *Coordinator, name string) *group {
	return &group{
		c:          c,
		name:       name,
		members:    make(map[string]*member),
		static:     make(map[string]string),
		pending:    make(map[string]time.Time),
		stateSince: c.cfg.Now(),
	}
}

func (g *group) setState(s state) {
	g.state = s
	g.stateSince = g.c.cfg.Now()
}

// setOffset stores a commit that was just written (or replayed).
func (g *group) setOffset(topic string, p int32, o offset) {
	o.order = g.nextOrder()
	g.putOffset(topic, p, o)
}

// nextOrder numbers the group's commits in the order they are written.
func (g *group) nextOrder() int64 {
	g.commits++
	return g.commits
}

func (g *group) putOffset(topic string, p int32, o offset) {
	if g.offsets == nil {
		g.offsets = make(map[string]map[int32]offset)
	}
	ps := g.offsets[topic]
	if ps == nil {
		ps = make(map[int32]offset)
		g.offsets[topic] = ps
	}
	ps[p] = o
}

func (g *group) deleteOffset(topic string, p int32) {
	if ps := g.offsets[topic]; ps != nil {
		delete(ps, p)
		if len(ps) == 0 {
			delete(g.offsets, topic)
		}
	}
}

// restore applies a GroupMetadataValue record during load.
func (g *group) restore(v *kmsg.GroupMetadataValue) {
	g.resetMembership()
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	for _, vm := range v.Members {
		m := &member{
			id:         vm.MemberID,
			clientID:   vm.ClientID,
			clientHost: vm.ClientHost,
			session:    time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalance:  time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			assignment: vm.Assignment,
			protocols:  []protocol{{name: g.protocol, metadata: vm.Subscription}},
		}
		if vm.InstanceID != nil {
			m.instanceID = *vm.InstanceID
			g.static[m.instanceID] = m.id
		}
		if m.rebalance <= 0 {
			m.rebalance = m.session
		}
		g.members[m.id] = m
	}
	if len(g.members) > 0 {
		g.setState(stateStable)
	} else {
		g.setState(stateEmpty)
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
}

// resetMembership drops members (stopping their timers) and the protocol.
func (g *group) resetMembership() {
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	g.members = make(map[string]*member)
	g.static = make(map[string]string)
	g.protocol, g.leader = "", ""
	g.setState(stateEmpty)
}

// metadataRecord is the GroupMetadata record for the group's current state.
func (g *group) metadataRecord() kv {
	key := kmsg.NewGroupMetadataKey()
	key.Version = 2
	key.Group = g.name
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateSince.UnixMilli()
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instancePtr()
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalance / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.session / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return kv{key: key.AppendTo(nil), value: v.AppendTo(nil)}
}

// persistMetadata writes the group's membership; failures are logged (the
// in-memory group keeps working; a restart would see the previous state).
func (g *group) persistMetadata() {
	if err := g.c.persist(g, []kv{g.metadataRecord()}); err != nil {
		g.c.log.Error("persisting group metadata", "group", g.name, "err", err)
	}
}

// scheduleExpiry (re)arms the member's session timer from now.
func (g *group) scheduleExpiry(m *member) {
	m.deadline = g.c.cfg.Now().Add(m.session)
	if m.timer != nil {
		m.timer.Stop()
	}
	id := m.id
	m.timer = time.AfterFunc(m.session, func() { g.expire(id) })
}

// touch extends the member's session without re-arming the timer; the timer
// re-arms itself when it fires early.
func (g *group) touch(m *member) {
	m.deadline = g.c.cfg.Now().Add(m.session)
}

func (g *group) expire(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[id]
	if m == nil || m.timer == nil {
		return
	}
	if m.joinCh != nil {
		// Waiting in JoinGroup: the rebalance timeout governs it.
		return
	}
	if left := m.deadline.Sub(g.c.cfg.Now()); left > 0 {
		m.timer = time.AfterFunc(left, func() { g.expire(id) })
		return
	}
	g.c.log.Info("consumer group member session expired", "group", g.name, "member", id)
	g.removeMember(m)
	g.memberLeft()
}

// removeMember deletes m, answering any request it is blocked in.
func (g *group) removeMember(m *member) {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	if m.joinCh != nil {
		r := kmsg.NewPtrJoinGroupResponse()
		r.ErrorCode = kerr.UnknownMemberID.Code
		r.MemberID = m.id
		m.joinCh <- joinResult{resp: r}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: kerr.UnknownMemberID.Code}
		m.syncCh = nil
	}
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
}

// memberLeft moves the group on after a member went away.
func (g *group) memberLeft() {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
	if len(g.members) == 0 && g.state != statePreparingRebalance {
		g.becomeEmpty()
	}
}

func (g *group) becomeEmpty() {
	g.stopRebalanceTimer()
	g.protocol, g.leader = "", ""
	g.generation++
	g.setState(stateEmpty)
	g.persistMetadata()
	g.c.removeIfDead(g)
}

func (g *group) stopRebalanceTimer() {
	g.rebalanceToken++
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
}

// shutdown answers every waiter and stops every timer (Coordinator.Close).
func (g *group) shutdown() {
	g.stopRebalanceTimer()
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
			m.timer = nil
		}
		if m.joinCh != nil {
			r := kmsg.NewPtrJoinGroupResponse()
			r.ErrorCode = kerr.CoordinatorNotAvailable.Code
			m.joinCh <- joinResult{resp: r}
			m.joinCh = nil
		}
		if m.syncCh != nil {
			m.syncCh <- syncResult{code: kerr.CoordinatorNotAvailable.Code}
			m.syncCh = nil
		}
	}
}
