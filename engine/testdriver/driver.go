// Package testdriver runs a topology in-process with no broker, for unit
// tests: pipe input records with timestamps, read what the topology wrote
// and look into its state stores. It uses the same task runtime as the
// engine, one task per sub-topology (a single partition), and feeds records
// written to internal repartition topics straight back in.
//
// After every piped record the driver flushes the tasks' store caches, the
// point where the engine would commit, so store contents are always current.
package testdriver

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/operators"
)

// Config tunes a Driver. The zero value works.
type Config struct {
	// ApplicationID prefixes internal topic names (default "test").
	ApplicationID string
	// StartTime is the initial wall clock (default 2024-01-01T00:00:00Z).
	StartTime time.Time
	// CacheMaxEntries is passed to the tasks; small values exercise
	// cache eviction.
	CacheMaxEntries int
	// OpenStore replaces the default in-memory stores (for example to
	// test Pebble stores).
	OpenStore func(spec state.Spec) (state.KeyValueStore, error)
	// StreamTime starts every task at this stream time, as the engine
	// does with the stream time committed with the offsets it resumes
	// from: to test what a topology does after a restart (0: none).
	StreamTime int64
}

// Driver runs one topology.
type Driver struct {
	topo    *operators.Topology
	appID   string
	now     time.Time
	tasks   []*operators.Task
	byTopic map[string]*operators.Task
	outputs map[string][]operators.OutputRecord
	queue   []operators.OutputRecord
	offsets map[string]int64
	err     error
}

// New starts a driver: it builds one task per sub-topology.
func New(topo *operators.Topology, cfg Config) (*Driver, error) {
	if cfg.ApplicationID == "" {
		cfg.ApplicationID = "test"
	}
	if cfg.StartTime.IsZero() {
		cfg.StartTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	d := &Driver{topo: topo, appID: cfg.ApplicationID, now: cfg.StartTime,
		byTopic: map[string]*operators.Task{}, outputs: map[string][]operators.OutputRecord{}, offsets: map[string]int64{}}
	for _, st := range topo.SubTopologies() {
		tk, err := topo.NewTask(st.ID, operators.TaskConfig{
			ID:              operators.TaskID{SubTopology: st.ID},
			ApplicationID:   cfg.ApplicationID,
			OpenStore:       cfg.OpenStore,
			Emit:            d.emit,
			Now:             func() time.Time { return d.now },
			CacheMaxEntries: cfg.CacheMaxEntries,
			StreamTime:      cfg.StreamTime,
		})
		if err != nil {
			d.Close()
			return nil, err
		}
		d.tasks = append(d.tasks, tk)
		for _, src := range st.Sources {
			d.byTopic[src.TopicName(cfg.ApplicationID)] = tk
		}
	}
	return d, nil
}

func (d *Driver) emit(rec operators.OutputRecord) error {
	d.queue = append(d.queue, rec)
	return nil
}

// PipeRaw feeds one raw record to the task reading topic, then everything it
// wrote to internal topics, then flushes. A record that cannot be decoded
// returns an error matching operators.ErrBadRecord and changes nothing.
func (d *Driver) PipeRaw(topic string, key, value []byte, ts int64) error {
	if d.err != nil {
		return d.err
	}
	tk := d.byTopic[topic]
	if tk == nil {
		return fmt.Errorf("testdriver: topic %q is not read by the topology", topic)
	}
	off := d.offsets[topic]
	d.offsets[topic] = off + 1
	err := tk.Process(&operators.InputRecord{Topic: topic, Offset: off, Key: key, Value: value, Timestamp: ts})
	if errors.Is(err, operators.ErrBadRecord) {
		return err
	}
	if err == nil {
		err = d.drain()
	}
	if err == nil {
		err = d.flush()
	}
	if err != nil {
		d.err = err
	}
	return err
}

// drain delivers queued records: to internal topics' tasks, or to outputs.
func (d *Driver) drain() error {
	for len(d.queue) > 0 {
		rec := d.queue[0]
		d.queue = d.queue[1:]
		if tk := d.byTopic[rec.Topic]; tk != nil {
			off := d.offsets[rec.Topic]
			d.offsets[rec.Topic] = off + 1
			if err := tk.Process(&operators.InputRecord{Topic: rec.Topic, Offset: off, Key: rec.Key, Value: rec.Value, Timestamp: rec.Timestamp, Headers: rec.Headers}); err != nil {
				return err
			}
			continue
		}
		d.outputs[rec.Topic] = append(d.outputs[rec.Topic], rec)
	}
	return nil
}

func (d *Driver) flush() error {
	for _, tk := range d.tasks {
		if err := tk.Flush(); err != nil {
			return err
		}
	}
	return d.drain()
}

// AdvanceWallClock moves the wall clock forward and fires due wall-clock
// punctuations.
func (d *Driver) AdvanceWallClock(by time.Duration) error {
	if d.err != nil {
		return d.err
	}
	d.now = d.now.Add(by)
	for _, tk := range d.tasks {
		if err := tk.Punctuate(d.now); err != nil {
			d.err = err
			return err
		}
	}
	if err := d.drain(); err != nil {
		d.err = err
		return err
	}
	return d.flush()
}

// Now is the driver's wall clock.
func (d *Driver) Now() time.Time { return d.now }

// RawOutput returns and removes the records written to topic so far.
func (d *Driver) RawOutput(topic string) []operators.OutputRecord {
	out := d.outputs[topic]
	delete(d.outputs, topic)
	return out
}

// OutputTopics lists topics with unread output.
func (d *Driver) OutputTopics() []string {
	var ts []string
	for t, recs := range d.outputs {
		if len(recs) > 0 {
			ts = append(ts, t)
		}
	}
	slices.Sort(ts)
	return ts
}

// RawStore returns the raw store called name (in the task that owns it).
func (d *Driver) RawStore(name string) (state.KeyValueStore, error) {
	for _, tk := range d.tasks {
		if s, ok := tk.Stores()[name]; ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("testdriver: no store %q", name)
}

// Task returns the task of a sub-topology (for stores via
// operators.KeyValueStoreDef.FromTask).
func (d *Driver) Task(sub int) *operators.Task {
	if sub < 0 || sub >= len(d.tasks) {
		return nil
	}
	return d.tasks[sub]
}

// TaskWithStore returns the task holding store name, or nil.
func (d *Driver) TaskWithStore(name string) *operators.Task {
	for _, tk := range d.tasks {
		if _, ok := tk.Stores()[name]; ok {
			return tk
		}
	}
	return nil
}

// Close closes every task.
func (d *Driver) Close() error {
	var errs []error
	for _, tk := range d.tasks {
		errs = append(errs, tk.Close())
	}
	return errors.Join(errs...)
}
