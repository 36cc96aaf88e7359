package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/operators"
)

// FuzzCheckpoint: a torn or corrupt checkpoint file costs a full restore,
// never a crash.
func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte(`{"stores":{"a":12}}`))
	f.Add([]byte(`{"stores":null}`))
	f.Add([]byte(`{"sto`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, checkpointFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
		cp, err := readCheckpoint(dir)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Stores == nil {
			t.Fatal("nil store map")
		}
	})
}

// FuzzBalancerMetadata: the group leader parses every member's metadata,
// which comes from the network.
func FuzzBalancerMetadata(f *testing.F) {
	b := &taskBalancer{plan: &plan{
		subs:     []subPlan{{id: 0, partitions: 2, sources: []string{"a", "b"}}, {id: 1, partitions: 2, sources: []string{"c"}}},
		topicSub: map[string]int32{"a": 0, "b": 0, "c": 1},
	}}
	f.Add(b.JoinGroupMetadata([]string{"a", "b", "c"}, map[string][]int32{"a": {0}}, 1), []byte("x"))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 1, 'a'}, []byte{})
	f.Fuzz(func(t *testing.T, m1, m2 []byte) {
		members := []kmsg.JoinGroupResponseMember{{MemberID: "m1", ProtocolMetadata: m1}, {MemberID: "m2", ProtocolMetadata: m2}}
		mb, _, err := b.MemberBalancer(members)
		if err != nil {
			return
		}
		plan, err := mb.(kgo.GroupMemberBalancerOrError).BalanceOrError(map[string]int32{"a": 2, "b": 2, "c": 2})
		if err != nil {
			return
		}
		// Co-partitioned topics always go to the same member.
		if p, ok := plan.(*kgo.BalancePlan); ok {
			for m, topics := range p.AsMemberIDMap() {
				for _, pa := range topics["a"] {
					found := false
					for _, pb := range topics["b"] {
						found = found || pa == pb
					}
					if !found {
						t.Fatalf("member %s has a/%d without b/%d", m, pa, pa)
					}
				}
			}
		}
	})
}

func FuzzParseTaskID(f *testing.F) {
	f.Add("0_1")
	f.Add("12_345")
	f.Add("_")
	f.Fuzz(func(t *testing.T, s string) {
		if id, ok := parseTaskID(s); ok && id.String() != s && (operators.TaskID{}) != id {
			// Leading zeros parse to the same id; the canonical form must
			// parse back to it.
			if id2, ok := parseTaskID(id.String()); !ok || id2 != id {
				t.Fatalf("%q -> %v -> %v", s, id, id2)
			}
		}
	})
}
