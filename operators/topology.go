package operators

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/engine/state"
)

// Topology is a built, validated processing graph. It is immutable and can
// run any number of tasks at once (each task builds its own processor
// instances and stores).
type Topology struct {
	nodes  []*node
	subs   []*subTopology
	stores map[string]*storeEntry
	copart [][]*node
}

type subTopology struct {
	id      int32
	nodes   []*node // in creation order
	sources []*node
	sinks   []*node
	stores  []string
}

// TopicInfo names a topic a sub-topology reads or writes. Internal topics
// (repartition topics) are created by the engine; their real name is
// InternalTopicName(applicationID, Name).
type TopicInfo struct {
	Name     string
	Internal bool
	// Partitions asked for an internal topic; 0 means as many as the
	// upstream sub-topology has tasks.
	Partitions int
}

// SubTopology describes one independently runnable part of a topology: the
// engine makes one task per partition of its source topics.
type SubTopology struct {
	ID      int32
	Sources []TopicInfo
	Sinks   []TopicInfo
	Stores  []state.Spec
}

// InternalTopicName is the real name of an internal topic of an application.
func InternalTopicName(appID, name string) string { return appID + "-" + name }

// ChangelogTopic is the compacted topic backing a store.
func ChangelogTopic(appID, store string) string { return appID + "-" + store + "-changelog" }

// TopicName resolves a TopicInfo to the topic's real name.
func (ti TopicInfo) TopicName(appID string) string {
	if ti.Internal {
		return InternalTopicName(appID, ti.Name)
	}
	return ti.Name
}

func newTopology(b *Builder) (*Topology, error) {
	t := &Topology{nodes: b.nodes, stores: b.stores, copart: b.copart}
	parent := make([]int, len(b.nodes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	union := func(a, b int) {
		ra, rb := find(a), find(b)
		if ra < rb {
			parent[rb] = ra
		} else if rb < ra {
			parent[ra] = rb
		}
	}
	for _, n := range b.nodes {
		for _, c := range n.children {
			union(n.id, c.id)
		}
	}
	for _, e := range b.stores {
		for i := 1; i < len(e.nodes); i++ {
			union(e.nodes[0].id, e.nodes[i].id)
		}
	}
	byRoot := map[int]*subTopology{}
	for _, n := range b.nodes {
		r := find(n.id)
		st := byRoot[r]
		if st == nil {
			st = &subTopology{}
			byRoot[r] = st
			t.subs = append(t.subs, st)
		}
		st.nodes = append(st.nodes, n)
		switch n.kind {
		case kindSource:
			st.sources = append(st.sources, n)
		case kindSink:
			st.sinks = append(st.sinks, n)
		}
		for _, s := range n.stores {
			if !contains(st.stores, s) {
				st.stores = append(st.stores, s)
			}
		}
	}
	for i, st := range t.subs {
		st.id = int32(i)
		sort.Strings(st.stores)
		if len(st.sources) == 0 {
			return nil, fmt.Errorf("%w: sub-topology %d has no source (processors %s)", ErrTopology, i, st.nodes[0].name)
		}
	}
	return t, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// SubTopologies lists the sub-topologies in order.
func (t *Topology) SubTopologies() []SubTopology {
	out := make([]SubTopology, 0, len(t.subs))
	for _, st := range t.subs {
		s := SubTopology{ID: st.id}
		for _, n := range st.sources {
			s.Sources = append(s.Sources, TopicInfo{Name: n.topic, Internal: n.internal, Partitions: n.partitions})
		}
		for _, n := range st.sinks {
			s.Sinks = append(s.Sinks, TopicInfo{Name: n.topic, Internal: n.internal, Partitions: n.partitions})
		}
		for _, name := range st.stores {
			s.Stores = append(s.Stores, t.stores[name].def.spec())
		}
		out = append(out, s)
	}
	return out
}

// CopartitionGroups lists sets of source topics whose records are joined by
// key, so they must have the same number of partitions. The engine checks
// this before starting.
func (t *Topology) CopartitionGroups() [][]TopicInfo {
	var out [][]TopicInfo
	for _, g := range t.copart {
		var ts []TopicInfo
		for _, n := range g {
			ts = append(ts, TopicInfo{Name: n.topic, Internal: n.internal, Partitions: n.partitions})
		}
		out = append(out, ts)
	}
	return out
}

// Describe prints the topology in the format of Kafka Streams'
// TopologyDescription: sub-topologies, their sources, processors, sinks,
// topics and stores.
func (t *Topology) Describe() string {
	var sb strings.Builder
	sb.WriteString("Topologies:\n")
	for _, st := range t.subs {
		fmt.Fprintf(&sb, "   Sub-topology: %d\n", st.id)
		for _, n := range st.nodes {
			switch n.kind {
			case kindSource:
				fmt.Fprintf(&sb, "    Source: %s (topics: [%s])\n", n.name, n.displayTopic())
			case kindSink:
				fmt.Fprintf(&sb, "    Sink: %s (topic: %s)\n", n.name, n.displayTopic())
			default:
				fmt.Fprintf(&sb, "    Processor: %s (stores: [%s])\n", n.name, strings.Join(n.stores, ", "))
			}
			if len(n.children) > 0 {
				fmt.Fprintf(&sb, "      --> %s\n", joinNames(n.children))
			} else if n.kind != kindSink {
				sb.WriteString("      --> none\n")
			}
			if len(n.parents) > 0 {
				fmt.Fprintf(&sb, "      <-- %s\n", joinNames(n.parents))
			} else if n.kind != kindSource {
				sb.WriteString("      <-- none\n")
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// String is Describe.
func (t *Topology) String() string { return t.Describe() }

func (n *node) displayTopic() string {
	if n.internal {
		return "<app-id>-" + n.topic
	}
	return n.topic
}

func joinNames(ns []*node) string {
	names := make([]string, len(ns))
	for i, n := range ns {
		names[i] = n.name
	}
	return strings.Join(names, ", ")
}
