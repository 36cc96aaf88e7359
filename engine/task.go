package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/operators"
)

// taskState is a running task with its stores and uncommitted offsets.
type taskState struct {
	id     operators.TaskID
	dir    string
	task   *operators.Task
	stores []*taskStore
	// offsets are the positions after the records processed since the
	// last commit; committedPos the positions of the last commit.
	offsets      map[tp]kgo.EpochOffset
	committedPos map[tp]kgo.EpochOffset
	sourceTPs    []tp

	in       prometheus.Counter
	out      prometheus.Counter
	late     prometheus.Counter
	lateSeen int64
	stream   prometheus.Gauge
	outN     int64 // records emitted since the last metrics update
	lags     map[tp]prometheus.Gauge

	// queues order the records of tasks with several source partitions
	// (nil for single-partition tasks); see ordering.go.
	queues    []*partQueue
	idleSince time.Time
}

type taskStore struct {
	name       string
	raw        state.KeyValueStore // what the task writes (logged when logged)
	persistent bool
	acked      *ackedOffset // nil when not logged
}

func (ts *taskState) lagGauge(a *App, topic string, p int32) prometheus.Gauge {
	k := tp{topic, p}
	g := ts.lags[k]
	if g == nil {
		g = a.metrics.lag.WithLabelValues(ts.id.String(), topic, strconv.Itoa(int(p)))
		ts.lags[k] = g
	}
	return g
}

// startTask opens a task's stores, restores them (from the local
// checkpoint on, or from scratch) and builds its processors.
// committed holds the group's committed offsets (nil if unknown).
func (a *App) startTask(ctx context.Context, id operators.TaskID, streamTime int64, committed kadm.OffsetResponses) (*taskState, error) {
	label := id.String()
	ts := &taskState{
		id:           id,
		dir:          filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID, label),
		offsets:      map[tp]kgo.EpochOffset{},
		committedPos: map[tp]kgo.EpochOffset{},
		in:           a.metrics.recordsIn.WithLabelValues(label),
		out:          a.metrics.recordsOut.WithLabelValues(label),
		late:         a.metrics.lateDropped.WithLabelValues(label),
		stream:       a.metrics.streamTime.WithLabelValues(label),
		lags:         map[tp]prometheus.Gauge{},
	}
	for _, t := range a.plan.subs[id.SubTopology].sources {
		k := tp{t, id.Partition}
		ts.sourceTPs = append(ts.sourceTPs, k)
		if o, ok := committed.Lookup(t, id.Partition); ok && o.Err == nil && o.At >= 0 {
			ts.committedPos[k] = kgo.EpochOffset{Epoch: o.LeaderEpoch, Offset: o.At}
		}
	}
	if err := os.MkdirAll(ts.dir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	cp, err := readCheckpoint(ts.dir)
	if err != nil {
		return nil, err
	}
	open := func(spec state.Spec) (state.KeyValueStore, error) {
		return a.openStore(ctx, ts, cp, spec)
	}
	emit := func(rec operators.OutputRecord) error {
		r := newOutRecord(rec)
		ts.outN++
		a.txnProduced++
		a.client.Produce(a.runCtx, r, a.onOutProduced)
		return nil
	}
	task, err := a.topo.NewTask(id.SubTopology, operators.TaskConfig{
		ID:              id,
		ApplicationID:   a.cfg.ApplicationID,
		OpenStore:       open,
		Emit:            emit,
		ReuseBuffers:    true,
		Logger:          a.log,
		CacheMaxEntries: a.cfg.CacheMaxEntries,
		StreamTime:      streamTime,
	})
	if err != nil {
		for _, s := range ts.stores {
			s.raw.Close()
		}
		return nil, err
	}
	ts.task = task
	if err := a.initQueues(ctx, ts, a.plan.subs[id.SubTopology].sources, committed); err != nil {
		task.Close()
		return nil, fmt.Errorf("task %v: %w", id, err)
	}
	if a.eos {
		// The stores are about to receive writes of a transaction that
		// may abort: from now until a clean close, they are not what
		// any checkpoint describes (a crash wipes and restores them).
		if err := removeCheckpoint(ts.dir); err != nil {
			task.Close()
			return nil, fmt.Errorf("task %v: %w", id, err)
		}
	} else if err := ts.writeCheckpoint(); err != nil {
		// The checkpoint now describes what was restored; rewrite it so
		// a store restored from scratch is not restored again after a
		// crash.
		task.Close()
		return nil, err
	}
	if streamTime != operators.NoTimestamp {
		a.log.Info("task started", "task", label, "stores", len(ts.stores), "stream_time", time.UnixMilli(streamTime).UTC())
	} else {
		a.log.Info("task started", "task", label, "stores", len(ts.stores))
	}
	return ts, nil
}

// openStore opens one store of a task and brings it up to date with its
// changelog.
func (a *App) openStore(ctx context.Context, ts *taskState, cp checkpoint, spec state.Spec) (state.KeyValueStore, error) {
	persistent := !spec.InMemory && !a.cfg.InMemoryStores
	var raw state.KeyValueStore
	from := int64(0)
	dir := filepath.Join(ts.dir, spec.Name)
	if persistent {
		off, ok := cp.Stores[spec.Name]
		if !ok || !spec.Logged {
			// No checkpoint: whatever is on disk is of unknown age.
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("wipe %s: %w", dir, err)
			}
		} else {
			from = off + 1
		}
		p, err := state.OpenPebble(spec.Name, dir, state.PebbleOptions{Logger: a.log})
		if err != nil {
			return nil, err
		}
		raw = p
	} else {
		raw = state.NewMemory(spec.Name)
	}
	s := &taskStore{name: spec.Name, raw: raw, persistent: persistent}
	ts.stores = append(ts.stores, s)
	if !spec.Logged {
		return raw, nil
	}
	cl := a.plan.changelogs[spec.Name]
	last, err := a.restore(ctx, raw, cl.topic, ts.id.Partition, from, ts.id.String(), spec.Name)
	if err != nil && from > 0 {
		return nil, err
	}
	if err == nil && last < from-1 && from > 0 {
		// The changelog is shorter than our checkpoint: it was
		// recreated. Start over from it.
		err = errChangelogReset
	}
	if err == errChangelogReset {
		a.log.Warn("changelog behind local checkpoint; restoring from scratch", "store", spec.Name)
		raw.Close()
		if persistent {
			if err := os.RemoveAll(dir); err != nil {
				return nil, err
			}
			p, err := state.OpenPebble(spec.Name, dir, state.PebbleOptions{Logger: a.log})
			if err != nil {
				return nil, err
			}
			raw = p
		} else {
			raw = state.NewMemory(spec.Name)
		}
		s.raw = raw
		if last, err = a.restore(ctx, raw, cl.topic, ts.id.Partition, 0, ts.id.String(), spec.Name); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	s.acked = &ackedOffset{off: last}
	logged := &loggedStore{KeyValueStore: raw, app: a, topic: cl.topic, partition: ts.id.Partition, acked: s.acked}
	s.raw = logged
	return logged, nil
}

var errChangelogReset = fmt.Errorf("changelog reset")

// checkpoint syncs the task's persistent stores and records the changelog
// offsets they hold. Called after every produced record was acknowledged.
func (ts *taskState) checkpoint() error {
	for _, s := range ts.stores {
		if s.persistent {
			if err := s.raw.Flush(); err != nil {
				return fmt.Errorf("task %v: %w", ts.id, err)
			}
		}
	}
	return ts.writeCheckpoint()
}

func (ts *taskState) writeCheckpoint() error {
	cp := checkpoint{Stores: map[string]int64{}}
	for _, s := range ts.stores {
		if s.persistent && s.acked != nil {
			cp.Stores[s.name] = s.acked.get()
		}
	}
	if len(cp.Stores) == 0 {
		return nil
	}
	if err := writeCheckpoint(ts.dir, cp); err != nil {
		return fmt.Errorf("task %v: %w", ts.id, err)
	}
	return nil
}
