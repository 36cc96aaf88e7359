package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/operators"
)

// plan is the physical layout of an application: how many tasks each
// sub-topology has and which topics each task reads and logs to.
type plan struct {
	subs []subPlan
	// topicSub maps each source topic (real name) to the sub-topology
	// reading it.
	topicSub map[string]int32
	// changelogs maps store name to its changelog.
	changelogs map[string]changelogPlan
	// changelogTopics is the set of changelog topic names.
	changelogTopics map[string]bool
}

type subPlan struct {
	id         int32
	partitions int32
	sources    []string // real topic names
	stores     []state.Spec
}

type changelogPlan struct {
	topic      string
	partitions int32
	spec       state.Spec
}

// windowedChangelogExtraRetentionMs keeps windowed changelog data a day past
// the store's own retention, as Kafka Streams does, so a restore never
// misses data the store still needs.
const windowedChangelogExtraRetentionMs = 24 * 60 * 60 * 1000

// makePlan finds source topic partition counts, creates internal topics
// (repartition and changelog) that are missing, and checks co-partitioning.
func makePlan(ctx context.Context, adm *kadm.Client, topo *operators.Topology, appID string, rf int16) (*plan, error) {
	subs := topo.SubTopologies()
	parts := map[string]int32{} // real topic name -> partitions
	explicit := map[string]bool{}
	var external []string
	internal := map[string]operators.TopicInfo{}
	for _, st := range subs {
		for _, src := range st.Sources {
			name := src.TopicName(appID)
			if src.Internal {
				internal[name] = src
				if src.Partitions > 0 {
					parts[name] = int32(src.Partitions)
					explicit[name] = true
				}
			} else {
				external = append(external, name)
			}
		}
	}
	if len(external) > 0 {
		td, err := adm.ListTopics(ctx, external...)
		if err != nil {
			return nil, fmt.Errorf("list source topics: %w", err)
		}
		for _, name := range external {
			d, ok := td[name]
			if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) || (d.Err == nil && len(d.Partitions) == 0) {
				return nil, fmt.Errorf("%w: %q (create it first)", ErrMissingSourceTopic, name)
			}
			if d.Err != nil {
				return nil, fmt.Errorf("source topic %q: %w", name, d.Err)
			}
			parts[name] = int32(len(d.Partitions))
		}
	}
	// Internal topics in a co-partition group with external topics take
	// their partition count, so joins line up.
	for _, g := range topo.CopartitionGroups() {
		var ext int32
		for _, ti := range g {
			if !ti.Internal {
				ext = max(ext, parts[ti.TopicName(appID)])
			}
		}
		if ext == 0 {
			continue
		}
		for _, ti := range g {
			name := ti.TopicName(appID)
			if ti.Internal && !explicit[name] {
				parts[name] = ext
				explicit[name] = true
			}
		}
	}
	// Derive remaining repartition topics' counts from the sub-topology
	// writing them, until nothing changes.
	for changed := true; changed; {
		changed = false
		for _, st := range subs {
			n, known := subPartitions(st, parts, appID)
			if !known {
				continue
			}
			for _, sink := range st.Sinks {
				name := sink.TopicName(appID)
				if _, ok := internal[name]; ok && parts[name] == 0 {
					parts[name] = n
					changed = true
				}
			}
		}
		// Repartition topics joined with each other get the larger
		// count of the group, as Kafka Streams does.
		for _, g := range topo.CopartitionGroups() {
			var m int32
			for _, ti := range g {
				m = max(m, parts[ti.TopicName(appID)])
			}
			for _, ti := range g {
				name := ti.TopicName(appID)
				if ti.Internal && !explicit[name] && parts[name] > 0 && parts[name] < m {
					parts[name] = m
					changed = true
				}
			}
		}
	}
	p := &plan{topicSub: map[string]int32{}, changelogs: map[string]changelogPlan{}, changelogTopics: map[string]bool{}}
	for _, st := range subs {
		n, known := subPartitions(st, parts, appID)
		if !known {
			return nil, fmt.Errorf("%w: cannot work out partition counts of sub-topology %d's internal topics", ErrInternalTopic, st.ID)
		}
		sp := subPlan{id: st.ID, partitions: n, stores: st.Stores}
		for _, src := range st.Sources {
			name := src.TopicName(appID)
			sp.sources = append(sp.sources, name)
			p.topicSub[name] = st.ID
		}
		for _, spec := range st.Stores {
			if spec.Logged {
				cl := changelogPlan{topic: operators.ChangelogTopic(appID, spec.Name), partitions: n, spec: spec}
				p.changelogs[spec.Name] = cl
				p.changelogTopics[cl.topic] = true
			}
		}
		p.subs = append(p.subs, sp)
	}
	for _, g := range topo.CopartitionGroups() {
		var first string
		for _, ti := range g {
			name := ti.TopicName(appID)
			if first == "" {
				first = name
				continue
			}
			if parts[name] != parts[first] {
				return nil, fmt.Errorf("%w: %q has %d partitions, %q has %d; repartition one side (Stream.Repartition with Partitions)", ErrCopartition, first, parts[first], name, parts[name])
			}
		}
	}
	// Create what is missing.
	want := map[string]topicWant{}
	for name := range internal {
		want[name] = topicWant{partitions: parts[name]}
	}
	for _, cl := range p.changelogs {
		cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		if cl.spec.Windowed {
			cfg["cleanup.policy"] = kadm.StringPtr("compact,delete")
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(cl.spec.RetentionMs+windowedChangelogExtraRetentionMs, 10))
		}
		want[cl.topic] = topicWant{partitions: cl.partitions, configs: cfg}
	}
	if err := ensureTopics(ctx, adm, want, rf); err != nil {
		return nil, err
	}
	return p, nil
}

func subPartitions(st operators.SubTopology, parts map[string]int32, appID string) (int32, bool) {
	var n int32
	for _, src := range st.Sources {
		c := parts[src.TopicName(appID)]
		if c == 0 {
			return 0, false
		}
		n = max(n, c)
	}
	return n, true
}

type topicWant struct {
	partitions int32
	configs    map[string]*string
}

func ensureTopics(ctx context.Context, adm *kadm.Client, want map[string]topicWant, rf int16) error {
	if len(want) == 0 {
		return nil
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	td, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list internal topics: %w", err)
	}
	for _, name := range names {
		w := want[name]
		if d, ok := td[name]; ok && d.Err == nil && len(d.Partitions) > 0 {
			if int32(len(d.Partitions)) != w.partitions {
				return fmt.Errorf("%w: %q has %d partitions, the topology needs %d (delete it to reset the application)", ErrInternalTopic, name, len(d.Partitions), w.partitions)
			}
			continue
		}
		resp, err := adm.CreateTopics(ctx, w.partitions, rf, w.configs, name)
		if err != nil {
			return fmt.Errorf("create internal topic %q: %w", name, err)
		}
		for _, r := range resp {
			if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("create internal topic %q: %w (%s)", name, r.Err, r.ErrMessage)
			}
		}
	}
	return nil
}
