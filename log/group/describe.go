package group

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups describes each named group; unknown groups are reported in
// the Dead state, as Kafka does.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		rg.State = stateDead.String()
		rg.AuthorizedOperations = -2147483648
		if name == "" {
			rg.ErrorCode = kerr.InvalidGroupID.Code
		} else if g := c.get(name); g != nil {
			g.mu.Lock()
			rg.State = g.state.String()
			rg.ProtocolType = g.protocolType
			if g.state == stateStable || g.state == stateCompletingRebalance {
				rg.Protocol = g.protocol
			}
			for _, m := range g.members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID = m.id
				dm.InstanceID = m.instancePtr()
				dm.ClientID = m.clientID
				dm.ClientHost = m.clientHost
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				if g.state == stateStable {
					dm.MemberAssignment = m.assignment
				}
				rg.Members = append(rg.Members, dm)
			}
			g.mu.Unlock()
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ListGroups lists groups, filtered by state (v4+) and type (v5+; every
// group here is "classic").
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	for _, g := range c.snapshot() {
		g.mu.Lock()
		st, pt := g.state, g.protocolType
		g.mu.Unlock()
		if st == stateDead || (len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, st.String())) {
			continue
		}
		if len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, "classic") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.name, pt, st.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

func containsFold(ss []string, s string) bool {
	for _, x := range ss {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// DeleteGroups deletes empty groups and their offsets (NON_EMPTY_GROUP
// otherwise).
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		rg.ErrorCode = c.deleteGroup(name)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(name string) int16 {
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.get(name)
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == stateDead {
		return kerr.GroupIDNotFound.Code
	}
	if len(g.members) > 0 || g.state != stateEmpty {
		return kerr.NonEmptyGroup.Code
	}
	var recs []kv
	for t, ps := range g.offsets {
		for p := range ps {
			key := kmsg.NewOffsetCommitKey()
			key.Version = 1
			key.Group, key.Topic, key.Partition = name, t, p
			recs = append(recs, kv{key: key.AppendTo(nil)})
		}
	}
	gk := kmsg.NewGroupMetadataKey()
	gk.Version = 2
	gk.Group = name
	recs = append(recs, kv{key: gk.AppendTo(nil)})
	if err := c.persist(g, recs); err != nil {
		c.log.Error("persisting group deletion", "group", name, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	g.offsets = nil
	c.removeIfDead(g)
	return 0
}
