package testdriver

import (
	"fmt"

	"github.com/sluicehq/sluice/operators"
)

// InputTopic pipes typed records into a topic.
type InputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    operators.Serde[K]
	vs    operators.Serde[V]
}

// Input returns a typed handle to pipe records into topic.
func Input[K, V any](d *Driver, topic string, ks operators.Serde[K], vs operators.Serde[V]) *InputTopic[K, V] {
	return &InputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// Pipe sends one record with timestamp ts (milliseconds).
func (in *InputTopic[K, V]) Pipe(key K, value V, ts int64) error {
	kb, err := in.ks.Serialize(nil, key)
	if err != nil {
		return fmt.Errorf("testdriver: key: %w", err)
	}
	vb, err := in.vs.Serialize(nil, value)
	if err != nil {
		return fmt.Errorf("testdriver: value: %w", err)
	}
	if vb == nil {
		vb = []byte{}
	}
	return in.d.PipeRaw(in.topic, kb, vb, ts)
}

// PipeTombstone sends a record with a null value.
func (in *InputTopic[K, V]) PipeTombstone(key K, ts int64) error {
	kb, err := in.ks.Serialize(nil, key)
	if err != nil {
		return fmt.Errorf("testdriver: key: %w", err)
	}
	return in.d.PipeRaw(in.topic, kb, nil, ts)
}

// KeyValue is one decoded output record.
type KeyValue[K, V any] struct {
	Key       K
	Value     V
	Timestamp int64
	Tombstone bool
}

// OutputTopic reads typed records a topology wrote.
type OutputTopic[K, V any] struct {
	d     *Driver
	topic string
	ks    operators.Serde[K]
	vs    operators.Serde[V]
}

// Output returns a typed handle to read what was written to topic.
func Output[K, V any](d *Driver, topic string, ks operators.Serde[K], vs operators.Serde[V]) *OutputTopic[K, V] {
	return &OutputTopic[K, V]{d: d, topic: topic, ks: ks, vs: vs}
}

// ReadAll returns and removes every record written so far.
func (out *OutputTopic[K, V]) ReadAll() ([]KeyValue[K, V], error) {
	var res []KeyValue[K, V]
	for _, r := range out.d.RawOutput(out.topic) {
		kv := KeyValue[K, V]{Timestamp: r.Timestamp}
		var err error
		if kv.Key, err = out.ks.Deserialize(r.Key); err != nil {
			return res, fmt.Errorf("testdriver: %s key: %w", out.topic, err)
		}
		if r.Value == nil {
			kv.Tombstone = true
		} else if kv.Value, err = out.vs.Deserialize(r.Value); err != nil {
			return res, fmt.Errorf("testdriver: %s value: %w", out.topic, err)
		}
		res = append(res, kv)
	}
	return res, nil
}
