package txn

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzReplay feeds arbitrary bytes to the __transaction_state replay path
// (batch walking, record decoding, state application): it must never panic,
// and a record that decodes must re-encode to one that decodes the same.
func FuzzReplay(f *testing.F) {
	m := meta{producerID: 7, lastProducerID: -1, epoch: 3, lastEpoch: 2, timeoutMs: 60000, state: Ongoing,
		parts: []TopicPartition{{"a", 0}, {"b", 3}}, startMs: 5, updateMs: 6}
	f.Add(encodeBatch(encodeKey("tx"), encodeValue(&m), 1))
	f.Add(encodeBatch(encodeKey("tx"), nil, 1))
	v0 := kmsg.NewTxnMetadataValue()
	v0.ProducerID, v0.State = 1, 4
	f.Add(encodeBatch(encodeKey("k"), v0.AppendTo(nil), 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := New(DefaultConfig(), []StateLog{nil}, nil, quiet)
		defer c.Close()
		_ = decodeBatches(data, func(key, value []byte) error {
			id, m, err := decodeRecord(key, value)
			if err != nil {
				return nil
			}
			c.replay(id, m)
			if m != nil {
				id2, m2, err := decodeRecord(encodeKey(id), encodeValue(m))
				if err != nil || id2 != id || m2.producerID != m.producerID || m2.state != m.state || len(m2.parts) != len(m.parts) {
					t.Fatalf("re-encoded record differs: %v %+v vs %+v", err, m2, m)
				}
			}
			return nil
		})
		if len(data) > 2 {
			_, _, _ = decodeRecord(data[:len(data)/2], data[len(data)/2:])
		}
	})
}
