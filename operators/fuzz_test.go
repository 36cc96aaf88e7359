package operators

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/state"
)

// Serdes decode bytes from topics and changelogs: they must return errors,
// never panic, and round-trip what they accept.
func FuzzSerdes(f *testing.F) {
	for _, s := range [][]byte{nil, {}, {0, 0, 0, 0, 0, 0, 0, 1}, []byte(`{"a":1}`), []byte("key\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02"), []byte("Lx"), []byte("R"), []byte("Q"), []byte("S\x00\x00\x00\x00\x00\x00\x00\x01key"), []byte("N\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("+\x00\x00\x00\x00\x00\x00\x00\x01"), []byte("-\x00\x00\x00\x00\x00\x00\x00\x02")} {
		f.Add(s)
	}
	type doc struct {
		A int               `json:"a"`
		B []string          `json:"b"`
		C map[string]string `json:"c"`
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := Int64.Deserialize(b); err == nil {
			out, _ := Int64.Serialize(nil, v)
			if !bytes.Equal(out, b) {
				t.Fatalf("int64 round trip %x -> %x", b, out)
			}
		}
		if v, err := Float64.Deserialize(b); err == nil && !math.IsNaN(v) {
			out, _ := Float64.Serialize(nil, v)
			if !bytes.Equal(out, b) {
				t.Fatalf("float64 round trip %x -> %x", b, out)
			}
		}
		String.Deserialize(b)
		Bytes.Deserialize(b)
		JSON[doc]().Deserialize(b)
		if w, err := WindowedSerde(String).Deserialize(b); err == nil {
			out, _ := WindowedSerde(String).Serialize(nil, w)
			if !bytes.Equal(out, b) {
				t.Fatalf("windowed round trip %x -> %x", b, out)
			}
		}
		sidedSerde[string, int64]{String, Int64}.Deserialize(b)
		if v, err := (fkSubSerde{}).Deserialize(b); err == nil {
			out, _ := fkSubSerde{}.Serialize(nil, v)
			if !bytes.Equal(out, b) {
				t.Fatalf("fk subscription round trip %x -> %x", b, out)
			}
		}
		if v, err := (fkRespSerde{}).Deserialize(b); err == nil {
			out, _ := fkRespSerde{}.Serialize(nil, v)
			if !bytes.Equal(out, b) {
				t.Fatalf("fk response round trip %x -> %x", b, out)
			}
		}
		if c, err := (tableChangeSerde[int64]{Int64}).Deserialize(b); err == nil {
			out, _ := tableChangeSerde[int64]{Int64}.Serialize(nil, c)
			if !bytes.Equal(out, b) {
				t.Fatalf("table change round trip %x -> %x", b, out)
			}
		}
		if k, tt, aux, ok := parseTimeKey(b); ok {
			ts := &timeStore[int64]{segment: 1000}
			if out := ts.rawKey(nil, k, tt, aux); tt >= 0 && !bytes.Equal(out[9:], b[9:]) {
				t.Fatalf("time key round trip %x -> %x", b, out)
			}
		}
	})
}

// FuzzRestoredStores opens tasks whose stores hold arbitrary bytes, as a
// corrupt or foreign changelog would restore them, and processes records:
// errors are fine, panics are not.
func FuzzRestoredStores(f *testing.F) {
	f.Add([]byte{0x01}, []byte{0x00}, []byte("k"), int64(5))
	f.Add(append([]byte{tsMeta}, 'o'), []byte{1, 2, 3}, []byte("a"), int64(0))
	good := (&timeStore[int64]{segment: 1000}).rawKey(nil, []byte("a"), 0, 0)
	f.Add(good, []byte{1, 2}, []byte("a"), int64(10))
	f.Add([]byte("a"), []byte{0xff}, []byte("a"), int64(1))
	f.Fuzz(func(t *testing.T, key, value, recKey []byte, ts int64) {
		if ts < 0 {
			ts = -ts
		}
		if ts < 0 {
			ts = 0
		}
		ts %= 1 << 40
		b := NewBuilder()
		s := StreamOf(b, "in", String, Int64)
		CountWindowed(s.GroupByKey().WindowedBy(Tumbling(10*time.Millisecond)), EmitOnClose()).ToStream().To("w")
		CountWindowed(s.GroupByKey().WindowedBy(Session(10*time.Millisecond)), Named("sess")).ToStream().To("s")
		CountWindowed(s.GroupByKey().WindowedBy(Sliding(10*time.Millisecond)), Named("slide")).ToStream().To("sl")
		s.GroupByKey().Count(Materialized("c", TTL(time.Second))).ToStream().To("c")
		Join(s, StreamOf(b, "in2", String, Int64), func(_ string, a, b int64) int64 { return a + b }, JoinWindow(5*time.Millisecond)).WithSerdes(String, Int64).To("j")
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		tk, err := topo.NewTask(0, TaskConfig{OpenStore: func(spec state.Spec) (state.KeyValueStore, error) {
			m := state.NewMemory(spec.Name)
			m.Put(key, value)
			return m, nil
		}})
		if err != nil {
			return // a corrupt store may be refused at open
		}
		defer tk.Close()
		v := binary.BigEndian.AppendUint64(nil, 1)
		for i, topic := range []string{"in", "in2", "in"} {
			if err := tk.Process(&InputRecord{Topic: topic, Key: recKey, Value: v, Timestamp: ts + int64(i)*20}); err != nil {
				return
			}
		}
		tk.Flush()
	})
}
