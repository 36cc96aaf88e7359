package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzReplay feeds arbitrary bytes to the __consumer_offsets replay path
// (batch walking and record application): it must never panic.
func FuzzReplay(f *testing.F) {
	ok := kmsg.NewOffsetCommitKey()
	ok.Version, ok.Group, ok.Topic, ok.Partition = 1, "g", "t", 0
	ov := kmsg.NewOffsetCommitValue()
	ov.Version, ov.Offset = 3, 9
	gk := kmsg.NewGroupMetadataKey()
	gk.Version, gk.Group = 2, "g"
	gv := kmsg.NewGroupMetadataValue()
	gv.Version, gv.ProtocolType, gv.Generation = 3, "consumer", 4
	m := kmsg.NewGroupMetadataValueMember()
	m.MemberID, m.SessionTimeoutMillis = "m", 10000
	gv.Members = append(gv.Members, m)
	f.Add(encodeBatch([]kv{{ok.AppendTo(nil), ov.AppendTo(nil)}, {gk.AppendTo(nil), gv.AppendTo(nil)}, {gk.AppendTo(nil), nil}}, 1))
	// A transactional offset commit and its commit marker.
	marker := encodeProducerBatch([]kv{{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}}, 1, 5, 0)
	marker[22] |= 0x20 // control
	f.Add(append(encodeProducerBatch([]kv{{ok.AppendTo(nil), ov.AppendTo(nil)}}, 1, 5, 0), marker...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New(DefaultConfig(), []PartitionLog{nil}, quiet)
		defer c.Close()
		_, _ = decodeBatches(data, func(r logRecord) {
			_ = c.replay(0, r)
		})
		// Raw key/value halves as well, without a valid batch around them.
		if len(data) > 2 {
			_ = c.apply(data[:len(data)/2], data[len(data)/2:])
		}
	})
}
