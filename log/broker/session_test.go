package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestSessionRotationAndTopicGrouping(t *testing.T) {
	b := &Broker{metrics: newMetrics()}
	a0 := &sessionPartition{topic: "a", partition: 0}
	a1 := &sessionPartition{topic: "a", partition: 1}
	b0 := &sessionPartition{topic: "b", partition: 0}
	s := &fetchSession{parts: []*sessionPartition{a0, a1, b0}}
	reads := []partitionRead{{sp: a0, data: []byte{1}}, {sp: a1}, {sp: b0}}
	resp := kmsg.NewPtrFetchResponse()
	b.fillFetchResponse(resp, reads, fetchPlan{session: s}, 12)
	if got := []*sessionPartition{a1, b0, a0}; s.parts[0] != got[0] || s.parts[1] != got[1] || s.parts[2] != got[2] {
		t.Fatalf("served partition not rotated to the back: %v", s.parts)
	}
	// The next fetch reads a1, b0, a0: topic a must still be one entry.
	reads = []partitionRead{{sp: a1}, {sp: b0}, {sp: a0}}
	resp = kmsg.NewPtrFetchResponse()
	b.fillFetchResponse(resp, reads, fetchPlan{session: s}, 12)
	if len(resp.Topics) != 2 || resp.Topics[0].Topic != "a" || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("topics not grouped: %+v", resp.Topics)
	}
}
