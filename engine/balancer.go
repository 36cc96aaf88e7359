package engine

import (
	"encoding/json"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/operators"
)

// taskBalancer assigns tasks, not partitions: every source partition of a
// task goes to the same member, so co-partitioned inputs (both sides of a
// join, a stream and its table) are processed together. It keeps tasks
// where they were when it can (their state is there), then prefers members
// that have the task's state on disk, then the least loaded member.
//
// It uses the standard "consumer" member metadata, so any Kafka broker can
// coordinate it; the leader computes the assignment from the topology every
// member runs.
type taskBalancer struct {
	plan *plan
	// localTasks lists tasks with state on this instance's disk, sent to
	// the leader in the member metadata's user data.
	localTasks func() []operators.TaskID
}

const protocolName = "sluice-streams"

func (b *taskBalancer) ProtocolName() string { return protocolName }
func (b *taskBalancer) IsCooperative() bool  { return false }

type memberUserData struct {
	Local []string `json:"local,omitempty"`
}

func (b *taskBalancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = interests
	meta.Generation = generation
	topics := make([]string, 0, len(current))
	for t := range current {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic = t
		op.Partitions = current[t]
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	var ud memberUserData
	if b.localTasks != nil {
		for _, id := range b.localTasks() {
			ud.Local = append(ud.Local, id.String())
		}
		sort.Strings(ud.Local)
	}
	meta.UserData, _ = json.Marshal(ud)
	return meta.AppendTo(nil)
}

func (b *taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (b *taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	if err != nil {
		return nil, nil, err
	}
	return cb, cb.MemberTopics(), nil
}

// Balance implements kgo.ConsumerBalancerBalance.
func (b *taskBalancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	type member struct {
		m      *kmsg.JoinGroupResponseMember
		owned  map[operators.TaskID]bool
		local  map[operators.TaskID]bool
		topics map[string]bool
		tasks  []operators.TaskID
	}
	var members []*member
	cb.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		mm := &member{m: m, owned: map[operators.TaskID]bool{}, local: map[operators.TaskID]bool{}, topics: map[string]bool{}}
		for _, t := range meta.Topics {
			mm.topics[t] = true
		}
		for _, op := range meta.OwnedPartitions {
			if sub, ok := b.plan.topicSub[op.Topic]; ok {
				for _, p := range op.Partitions {
					mm.owned[operators.TaskID{SubTopology: sub, Partition: p}] = true
				}
			}
		}
		var ud memberUserData
		if json.Unmarshal(meta.UserData, &ud) == nil {
			for _, s := range ud.Local {
				if id, ok := parseTaskID(s); ok {
					mm.local[id] = true
				}
			}
		}
		members = append(members, mm)
	})
	plan := cb.NewPlan()
	if len(members) == 0 {
		return plan
	}
	// Every task whose source topics all members can read.
	var tasks []operators.TaskID
	for _, sp := range b.plan.subs {
		var n int32
		for _, t := range sp.sources {
			n = max(n, topics[t])
		}
		for p := int32(0); p < n; p++ {
			tasks = append(tasks, operators.TaskID{SubTopology: sp.id, Partition: p})
		}
	}
	capacity := (len(tasks) + len(members) - 1) / len(members)
	canRead := func(m *member, id operators.TaskID) bool {
		for _, t := range b.plan.subs[id.SubTopology].sources {
			if !m.topics[t] {
				return false
			}
		}
		return true
	}
	assigned := map[operators.TaskID]bool{}
	give := func(m *member, id operators.TaskID) {
		m.tasks = append(m.tasks, id)
		assigned[id] = true
	}
	// 1. Stay where you are.
	for _, id := range tasks {
		for _, m := range members {
			if m.owned[id] && len(m.tasks) < capacity && canRead(m, id) {
				give(m, id)
				break
			}
		}
	}
	// 2. Go where your state is.
	for _, id := range tasks {
		if assigned[id] {
			continue
		}
		for _, m := range members {
			if m.local[id] && len(m.tasks) < capacity && canRead(m, id) {
				give(m, id)
				break
			}
		}
	}
	// 3. Least loaded.
	for _, id := range tasks {
		if assigned[id] {
			continue
		}
		var best *member
		for _, m := range members {
			if canRead(m, id) && (best == nil || len(m.tasks) < len(best.tasks)) {
				best = m
			}
		}
		if best != nil {
			give(best, id)
		}
	}
	for _, m := range members {
		for _, id := range m.tasks {
			for _, t := range b.plan.subs[id.SubTopology].sources {
				if id.Partition < topics[t] {
					plan.AddPartition(m.m, t, id.Partition)
				}
			}
		}
	}
	return plan
}

func parseTaskID(s string) (operators.TaskID, bool) {
	var id operators.TaskID
	var a, p int32
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '_' {
			n++
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return id, false
		}
		if n == 0 {
			a = a*10 + int32(s[i]-'0')
		} else {
			p = p*10 + int32(s[i]-'0')
		}
	}
	if n != 1 {
		return id, false
	}
	return operators.TaskID{SubTopology: a, Partition: p}, true
}
