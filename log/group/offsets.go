package group

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// MaxOffsetMetadataBytes is Kafka's offset.metadata.max.bytes default.
const MaxOffsetMetadataBytes = 4096

// PartitionCheck tells the coordinator whether a topic partition exists; nil
// accepts everything.
type PartitionCheck func(topic string, partition int32) bool

// OffsetCommit stores committed offsets for a group. Simple commits
// (generation -1, no member id) are accepted only while the group has no
// active members, as in Kafka.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, exists PartitionCheck) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	code := int16(0)
	var g *group
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if c.isClosed() {
		code = kerr.CoordinatorNotAvailable.Code
	} else {
		g = c.getOrCreate(req.Group)
		g.mu.Lock()
		defer g.mu.Unlock()
		code = g.validateCommit(req)
	}
	var recs []kv
	type slot struct{ t, p int }
	var slots []slot
	nowMs := c.cfg.Now().UnixMilli()
	for ti, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = code
			switch {
			case code != 0:
			case p.Metadata != nil && len(*p.Metadata) > MaxOffsetMetadataBytes:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case exists != nil && !exists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				key := kmsg.NewOffsetCommitKey()
				key.Version = 1
				key.Group, key.Topic, key.Partition = req.Group, t.Topic, p.Partition
				val := kmsg.NewOffsetCommitValue()
				val.Version = 3
				val.Offset = p.Offset
				val.LeaderEpoch = p.LeaderEpoch
				if req.Version < 6 {
					val.LeaderEpoch = -1
				}
				if p.Metadata != nil {
					val.Metadata = *p.Metadata
				}
				val.CommitTimestamp = nowMs
				recs = append(recs, kv{key: key.AppendTo(nil), value: val.AppendTo(nil)})
				slots = append(slots, slot{ti, len(rt.Partitions)})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) == 0 {
		if g != nil {
			c.removeIfDead(g)
		}
		return resp
	}
	if err := c.persist(g, recs); err != nil {
		c.log.Error("persisting committed offsets", "group", req.Group, "err", err)
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	for _, s := range slots {
		t := req.Topics[s.t]
		p := t.Partitions[s.p]
		o := offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, CommitMs: nowMs}
		if req.Version < 6 {
			o.LeaderEpoch = -1
		}
		if p.Metadata != nil {
			o.Metadata = *p.Metadata
		}
		g.setOffset(t.Topic, p.Partition, o)
	}
	return resp
}

func (g *group) validateCommit(req *kmsg.OffsetCommitRequest) int16 {
	if req.Generation < 0 && req.MemberID == "" {
		if len(g.members) == 0 && g.state != statePreparingRebalance {
			return 0
		}
		return kerr.IllegalGeneration.Code
	}
	if g.state == stateCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	m := g.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if req.InstanceID != nil && *req.InstanceID != m.instanceID {
		return kerr.FencedInstanceID.Code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	g.touch(m)
	return 0
}

// FetchOffsets returns a group's committed offsets for topics (nil means
// every topic with an offset). Partitions without one answer offset -1.
// With requireStable (KIP-447), a partition for which an open transaction
// has committed an offset answers UNSTABLE_OFFSET_COMMIT instead, so that a
// consumer taking it over waits for that transaction to end.
func (c *Coordinator) FetchOffsets(groupName string, topics []kmsg.OffsetFetchRequestTopic, requireStable bool) ([]kmsg.OffsetFetchResponseTopic, int16) {
	if groupName == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	g := c.get(groupName)
	var offsets map[string]map[int32]offset
	unstable := func(string, int32) bool { return false }
	if g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		offsets = g.offsets
		if requireStable && len(g.txnOffsets) > 0 {
			unstable = g.hasPending
		}
	}
	fetched := func(topic string, p int32, o offset, ok bool) kmsg.OffsetFetchResponseTopicPartition {
		rp := fetchedPartition(p, o, ok)
		if unstable(topic, p) {
			rp.Offset, rp.LeaderEpoch = -1, -1
			rp.ErrorCode = kerr.UnstableOffsetCommit.Code
		}
		return rp
	}
	var out []kmsg.OffsetFetchResponseTopic
	if topics == nil {
		names := make([]string, 0, len(offsets))
		for t := range offsets {
			names = append(names, t)
		}
		sort.Strings(names)
		for _, t := range names {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t
			ps := make([]int32, 0, len(offsets[t]))
			for p := range offsets[t] {
				ps = append(ps, p)
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, fetched(t, p, offsets[t][p], true))
			}
			out = append(out, rt)
		}
		return out, 0
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			o, ok := offsets[t.Topic][p]
			rt.Partitions = append(rt.Partitions, fetched(t.Topic, p, o, ok))
		}
		out = append(out, rt)
	}
	return out, 0
}

func fetchedPartition(p int32, o offset, ok bool) kmsg.OffsetFetchResponseTopicPartition {
	rp := kmsg.NewOffsetFetchResponseTopicPartition()
	rp.Partition = p
	rp.Offset, rp.LeaderEpoch = -1, -1
	md := ""
	rp.Metadata = &md
	if ok {
		rp.Offset, rp.LeaderEpoch = o.Offset, o.LeaderEpoch
		m := o.Metadata
		rp.Metadata = &m
	}
	return rp
}

// OffsetFetch answers OffsetFetch at any version, including v8+'s batch of
// groups.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	if req.Version < 8 {
		topics := req.Topics
		if req.Version < 2 && topics == nil {
			topics = []kmsg.OffsetFetchRequestTopic{}
		}
		resp.Topics, resp.ErrorCode = c.FetchOffsets(req.Group, topics, req.Version >= 7 && req.RequireStable)
		return resp
	}
	for _, rg := range req.Groups {
		var topics []kmsg.OffsetFetchRequestTopic
		if rg.Topics != nil {
			topics = make([]kmsg.OffsetFetchRequestTopic, 0, len(rg.Topics))
			for _, t := range rg.Topics {
				ft := kmsg.NewOffsetFetchRequestTopic()
				ft.Topic, ft.Partitions = t.Topic, t.Partitions
				topics = append(topics, ft)
			}
		}
		got, code := c.FetchOffsets(rg.Group, topics, req.RequireStable)
		og := kmsg.NewOffsetFetchResponseGroup()
		og.Group, og.ErrorCode = rg.Group, code
		for _, t := range got {
			gt := kmsg.NewOffsetFetchResponseGroupTopic()
			gt.Topic = t.Topic
			for _, p := range t.Partitions {
				gp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				gt.Partitions = append(gt.Partitions, gp)
			}
			og.Topics = append(og.Topics, gt)
		}
		resp.Groups = append(resp.Groups, og)
	}
	return resp
}

// OffsetDelete removes committed offsets of topics the group is not
// consuming (KIP-496).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := kmsg.NewPtrOffsetDeleteResponse()
	g := c.get(req.Group)
	if g == nil {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == stateDead {
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp
	}
	if len(g.members) > 0 && g.protocolType != "consumer" {
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		return resp
	}
	subscribed := g.subscribedTopics()
	var recs []kv
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if _, ok := g.offsets[t.Topic][p.Partition]; ok {
				key := kmsg.NewOffsetCommitKey()
				key.Version = 1
				key.Group, key.Topic, key.Partition = g.name, t.Topic, p.Partition
				recs = append(recs, kv{key: key.AppendTo(nil)})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := c.persist(g, recs); err != nil {
		c.log.Error("persisting offset deletion", "group", g.name, "err", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.Topics = nil
		return resp
	}
	for _, t := range req.Topics {
		if subscribed[t.Topic] {
			continue
		}
		for _, p := range t.Partitions {
			g.deleteOffset(t.Topic, p.Partition)
		}
	}
	c.removeIfDead(g)
	return resp
}

// subscribedTopics decodes the consumer protocol subscriptions of the
// group's members.
func (g *group) subscribedTopics() map[string]bool {
	out := make(map[string]bool)
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
		for _, op := range meta.OwnedPartitions {
			out[op.Topic] = true
		}
	}
	return out
}
