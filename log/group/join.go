package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

func joinError(code int16, memberID string) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.ErrorCode = code
	r.MemberID = memberID
	r.Generation = -1
	return r
}

// JoinGroup handles a JoinGroup request. It blocks until the group's
// rebalance completes, ctx ends, or the coordinator closes.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	if req.Group == "" {
		return joinError(kerr.InvalidGroupID.Code, req.MemberID)
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return joinError(kerr.InvalidSessionTimeout.Code, req.MemberID)
	}
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session // JoinGroup v0 has no rebalance timeout
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
	}
	if c.isClosed() {
		return joinError(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	protos := make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protos[i] = protocol{name: p.Name, metadata: append([]byte(nil), p.Metadata...)}
	}
	instance := ""
	if req.InstanceID != nil {
		instance = *req.InstanceID
	}

	g := c.getOrCreate(req.Group)
	g.mu.Lock()
	if g.state == stateDead {
		g.mu.Unlock()
		return joinError(kerr.CoordinatorNotAvailable.Code, req.MemberID)
	}
	if len(g.members) > 0 || g.state != stateEmpty {
		if g.protocolType != req.ProtocolType || !g.supportsAny(protos) {
			g.mu.Unlock()
			return joinError(kerr.InconsistentGroupProtocol.Code, req.MemberID)
		}
	}

	var m *member
	staticRejoin := false
	switch {
	case instance != "":
		// Static membership (KIP-345): the instance id names the member;
		// a new join with it replaces (fences) the old member id.
		if oldID, ok := g.static[instance]; ok && req.MemberID != "" && req.MemberID != oldID {
			g.mu.Unlock()
			return joinError(kerr.FencedInstanceID.Code, req.MemberID)
		} else if ok {
			m = g.members[oldID]
			if m != nil && req.MemberID == "" {
				delete(g.members, oldID)
				m.id = newMemberID(clientID)
				g.members[m.id] = m
				g.static[instance] = m.id
				if g.leader == oldID {
					g.leader = m.id
				}
				staticRejoin = true
			}
		}
		if m == nil {
			if len(g.members) >= c.cfg.MaxGroupSize {
				g.mu.Unlock()
				return joinError(kerr.GroupMaxSizeReached.Code, req.MemberID)
			}
			m = &member{id: newMemberID(clientID), instanceID: instance}
			g.members[m.id] = m
			g.static[instance] = m.id
		}
	case req.MemberID == "":
		id := newMemberID(clientID)
		if req.Version >= 4 {
			// KIP-394: hand out the id and make the client come back
			// with it, so that a client that times out the join does
			// not leave a ghost member behind.
			now := c.cfg.Now()
			if len(g.pending) >= 64 {
				// Forget ids handed out to clients that never came
				// back, so a join storm cannot grow the map forever.
				for pid, exp := range g.pending {
					if now.After(exp) {
						delete(g.pending, pid)
					}
				}
			}
			if len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
				g.mu.Unlock()
				return joinError(kerr.GroupMaxSizeReached.Code, "")
			}
			g.pending[id] = now.Add(session)
			g.mu.Unlock()
			return joinError(kerr.MemberIDRequired.Code, id)
		}
		if len(g.members) >= c.cfg.MaxGroupSize {
			g.mu.Unlock()
			return joinError(kerr.GroupMaxSizeReached.Code, "")
		}
		m = &member{id: id}
		g.members[id] = m
	default:
		m = g.members[req.MemberID]
		if m == nil {
			exp, ok := g.pending[req.MemberID]
			if !ok || c.cfg.Now().After(exp) {
				delete(g.pending, req.MemberID)
				g.mu.Unlock()
				return joinError(kerr.UnknownMemberID.Code, req.MemberID)
			}
			if len(g.members) >= c.cfg.MaxGroupSize {
				g.mu.Unlock()
				return joinError(kerr.GroupMaxSizeReached.Code, req.MemberID)
			}
			delete(g.pending, req.MemberID)
			m = &member{id: req.MemberID}
			g.members[m.id] = m
		}
	}

	unchanged := sameProtocols(m.protocols, protos)
	m.clientID, m.clientHost = clientID, clientHost
	m.session, m.rebalance = session, rebalance
	m.protocols = protos
	if g.protocolType == "" || len(g.members) == 1 {
		g.protocolType = req.ProtocolType
	}

	// A static member coming back (a restarted pod) to a stable group with
	// the same metadata keeps its assignment without a rebalance, which is
	// what static membership is for (KIP-345). A returning leader is told
	// to skip assignment (KIP-814, JoinGroup v9+).
	if staticRejoin && unchanged && g.state == stateStable {
		leader := m.id == g.leader
		resp := g.joinResponse(m, leader)
		resp.SkipAssignment = leader
		g.scheduleExpiry(m)
		g.persistMetadata()
		g.mu.Unlock()
		return resp
	}

	// A known member rejoining a settled group with the same metadata gets
	// the current generation back (it lost the previous response) instead
	// of forcing everyone through another rebalance.
	if unchanged && m.id != g.leader && (g.state == stateStable || g.state == stateCompletingRebalance) {
		resp := g.joinResponse(m, false)
		g.scheduleExpiry(m)
		g.mu.Unlock()
		return resp
	}

	ch := make(chan joinResult, 1)
	if m.joinCh != nil {
		// A duplicate join from the same member replaces the old one.
		m.joinCh <- joinResult{resp: joinError(kerr.RebalanceInProgress.Code, m.id)}
	}
	m.joinCh = ch
	if m.timer == nil {
		g.scheduleExpiry(m)
	}
	switch g.state {
	case stateEmpty, stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
	g.mu.Unlock()

	select {
	case r := <-ch:
		return r.resp
	case <-ctx.Done():
		g.mu.Lock()
		if m.joinCh == ch {
			m.joinCh = nil
		}
		g.mu.Unlock()
		return joinError(kerr.RebalanceInProgress.Code, m.id)
	}
}

// supportsAny reports whether every member (and the joiner) shares at least
// one protocol name with protos.
func (g *group) supportsAny(protos []protocol) bool {
	for _, p := range protos {
		ok := true
		for _, m := range g.members {
			if m.metadataFor(p.name) == nil && !hasProto(m.protocols, p.name) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func hasProto(ps []protocol, name string) bool {
	for _, p := range ps {
		if p.name == name {
			return true
		}
	}
	return false
}

// prepareRebalance starts a join barrier: members have until the largest
// rebalance timeout to (re)join; those that do not are removed.
func (g *group) prepareRebalance() {
	// Members waiting in SyncGroup must rejoin.
	for _, m := range g.members {
		if m.syncCh != nil {
			m.syncCh <- syncResult{code: kerr.RebalanceInProgress.Code}
			m.syncCh = nil
		}
	}
	wasEmpty := g.state == stateEmpty
	g.setState(statePreparingRebalance)
	var timeout time.Duration
	for _, m := range g.members {
		if m.rebalance > timeout {
			timeout = m.rebalance
		}
	}
	if wasEmpty && g.c.cfg.InitialRebalanceDelay > 0 {
		timeout = g.c.cfg.InitialRebalanceDelay
		g.delayUntil = g.c.cfg.Now().Add(timeout)
	} else if wasEmpty || g.allJoined() {
		// Nothing to wait for.
		g.completeJoin()
		return
	}
	g.armRebalanceTimer(timeout)
}

func (g *group) armRebalanceTimer(d time.Duration) {
	g.stopRebalanceTimer()
	token := g.rebalanceToken
	g.rebalanceTimer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.rebalanceToken != token || g.state != statePreparingRebalance {
			return
		}
		g.completeJoin()
	})
}

func (g *group) allJoined() bool {
	for _, m := range g.members {
		if m.joinCh == nil {
			return false
		}
	}
	return true
}

func (g *group) maybeCompleteJoin() {
	if g.state == statePreparingRebalance && g.allJoined() && !g.c.cfg.Now().Before(g.delayUntil) {
		g.completeJoin()
	}
}

// completeJoin ends the join barrier: members that did not rejoin are
// dropped, the generation advances, a protocol is chosen, and every waiting
// member gets its JoinGroup response (the leader with the member list).
func (g *group) completeJoin() {
	g.stopRebalanceTimer()
	for _, m := range g.members {
		if m.joinCh == nil {
			g.c.log.Info("consumer group member did not rejoin in time", "group", g.name, "member", m.id)
			g.removeMember(m)
		}
	}
	if len(g.members) == 0 {
		g.becomeEmpty()
		return
	}
	g.generation++
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for id := range g.members {
			if g.leader == "" || id < g.leader {
				g.leader = id
			}
		}
	}
	g.setState(stateCompletingRebalance)
	var timeout time.Duration
	for _, m := range g.members {
		m.assignment = nil
		m.synced = false
		resp := g.joinResponse(m, true)
		m.joinCh <- joinResult{resp: resp}
		m.joinCh = nil
		g.scheduleExpiry(m)
		if m.rebalance > timeout {
			timeout = m.rebalance
		}
	}
	g.armSyncTimer(timeout)
}

// armSyncTimer bounds the sync barrier: members that have not sent
// SyncGroup for this generation within the rebalance timeout are removed
// and the rest rebalance, so a leader that never assigns cannot wedge the
// group while everyone keeps heartbeating.
func (g *group) armSyncTimer(d time.Duration) {
	g.stopRebalanceTimer()
	token, gen := g.rebalanceToken, g.generation
	g.rebalanceTimer = time.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.rebalanceToken != token || g.state != stateCompletingRebalance || g.generation != gen {
			return
		}
		removed := false
		for _, m := range g.members {
			if !m.synced {
				g.c.log.Info("consumer group member did not sync in time", "group", g.name, "member", m.id)
				g.removeMember(m)
				removed = true
			}
		}
		if removed {
			g.memberLeft()
		}
	})
}

// selectProtocol picks the protocol every member supports that members rank
// highest (each member votes for its most preferred candidate).
func (g *group) selectProtocol() string {
	var candidates []string
	var first *member
	for _, m := range g.members {
		first = m
		break
	}
	for _, p := range first.protocols {
		all := true
		for _, m := range g.members {
			if !hasProto(m.protocols, p.name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.name)
		}
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (g *group) joinResponse(m *member, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	r.ProtocolType = &pt
	r.Protocol = &p
	r.LeaderID = g.leader
	r.MemberID = m.id
	if withMembers && m.id == g.leader {
		for _, o := range g.members {
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instancePtr()
			jm.ProtocolMetadata = o.metadataFor(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// SyncGroup handles a SyncGroup request: the leader's assignments complete
// the rebalance; followers wait for them.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	g := c.get(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	g.mu.Lock()
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case req.InstanceID != nil && *req.InstanceID != m.instanceID:
		resp.ErrorCode = kerr.FencedInstanceID.Code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
	case g.state == statePreparingRebalance || g.state == stateEmpty:
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case g.state == stateStable:
		resp.MemberAssignment = m.assignment
		g.touch(m)
	}
	if resp.ErrorCode != 0 || g.state == stateStable {
		g.fillProtocol(resp)
		g.mu.Unlock()
		return resp
	}
	// CompletingRebalance.
	g.touch(m)
	m.synced = true
	ch := make(chan syncResult, 1)
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	m.syncCh = ch
	if m.id == g.leader {
		for _, a := range req.GroupAssignment {
			if om := g.members[a.MemberID]; om != nil {
				om.assignment = append([]byte(nil), a.MemberAssignment...)
			}
		}
		g.stopRebalanceTimer()
		g.setState(stateStable)
		g.persistMetadata()
		for _, om := range g.members {
			if om.syncCh != nil {
				om.syncCh <- syncResult{assignment: om.assignment}
				om.syncCh = nil
			}
		}
	}
	g.fillProtocol(resp)
	g.mu.Unlock()

	select {
	case r := <-ch:
		resp.ErrorCode = r.code
		resp.MemberAssignment = r.assignment
	case <-ctx.Done():
		g.mu.Lock()
		if m.syncCh == ch {
			m.syncCh = nil
		}
		g.mu.Unlock()
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	}
	return resp
}

func (g *group) fillProtocol(resp *kmsg.SyncGroupResponse) {
	pt, p := g.protocolType, g.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
}

// Heartbeat keeps a member's session alive and tells it when to rejoin.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	g := c.get(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case req.InstanceID != nil && *req.InstanceID != m.instanceID:
		resp.ErrorCode = kerr.FencedInstanceID.Code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	case g.state == statePreparingRebalance:
		g.touch(m)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case g.state == stateCompletingRebalance, g.state == stateStable:
		g.touch(m)
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}

// LeaveGroup removes members (one for v0-v2, a list with instance ids for
// v3+) and rebalances the rest.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	g := c.get(req.Group)
	leaving := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{lm}
	}
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		if req.Version >= 3 {
			resp.ErrorCode = 0
			for _, lm := range leaving {
				rm := kmsg.NewLeaveGroupResponseMember()
				rm.MemberID, rm.InstanceID, rm.ErrorCode = lm.MemberID, lm.InstanceID, kerr.UnknownMemberID.Code
				resp.Members = append(resp.Members, rm)
			}
		}
		return resp
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	removed := false
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		id := lm.MemberID
		if lm.InstanceID != nil {
			sid, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				rm.ErrorCode = kerr.UnknownMemberID.Code
			case id != "" && id != sid:
				rm.ErrorCode = kerr.FencedInstanceID.Code
			}
			id = sid
		}
		m := g.members[id]
		if rm.ErrorCode == 0 && m == nil {
			rm.ErrorCode = kerr.UnknownMemberID.Code
		}
		if rm.ErrorCode == 0 {
			g.removeMember(m)
			removed = true
		}
		resp.Members = append(resp.Members, rm)
	}
	if removed {
		g.memberLeft()
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}
