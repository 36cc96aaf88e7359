package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A task reading several partitions (a stream and a table, two joined
// streams) processes their records in timestamp order, as Kafka Streams
// does, so a table is filled before the stream records that come after its
// rows in time, and a restarted application reprocesses history the way it
// happened. Fetched records wait in per-partition queues; the task takes
// the oldest head. While a partition is still catching up to the end
// offset it had when the task started, and its queue is empty, the task
// waits for it — at most Config.MaxTaskIdle — rather than racing ahead.
type partQueue struct {
	tp       tp
	recs     []*kgo.Record
	head     int
	end      int64 // end offset when the task started
	caughtUp bool
}

// initQueues sets up ordered processing for a task with several source
// partitions. Called with a.mu held, before the task processes anything.
// committed holds the group's committed offsets (nil if unknown).
func (a *App) initQueues(ctx context.Context, ts *taskState, topics []string, committed kadm.OffsetResponses) error {
	if len(topics) < 2 {
		return nil
	}
	// Read committed, the consumer reaches the last stable offset, not
	// the high watermark.
	list := a.admin.ListEndOffsets
	if a.eos {
		list = a.admin.ListCommittedOffsets
	}
	ends, err := list(ctx, topics...)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	starts, err := a.admin.ListStartOffsets(ctx, topics...)
	if err != nil {
		return fmt.Errorf("start offsets: %w", err)
	}
	for _, t := range topics {
		q := &partQueue{tp: tp{t, ts.id.Partition}}
		end, ok := ends.Lookup(t, ts.id.Partition)
		if !ok || end.Err != nil {
			q.caughtUp = true // unknown: do not wait for it
		} else {
			q.end = end.Offset
			pos := int64(0)
			if st, ok := starts.Lookup(t, ts.id.Partition); ok && st.Err == nil {
				pos = st.Offset
			}
			if c, ok := committed.Lookup(t, ts.id.Partition); ok && c.Err == nil && c.At > pos {
				pos = c.At
			}
			q.caughtUp = pos >= q.end
		}
		ts.queues = append(ts.queues, q)
	}
	return nil
}

func (ts *taskState) enqueue(a *App, p kgo.FetchTopicPartition) {
	for _, q := range ts.queues {
		if q.tp.topic == p.Topic && q.tp.partition == p.Partition {
			if q.head == len(q.recs) {
				q.recs, q.head = q.recs[:0], 0
			}
			q.recs = append(q.recs, p.Records...)
			last := p.Records[len(p.Records)-1]
			ts.lagGauge(a, p.Topic, p.Partition).Set(float64(max(p.HighWatermark-last.Offset-1, 0)))
			return
		}
	}
}

// drainOrdered processes a task's queued records oldest first.
func (a *App) drainOrdered(ctx context.Context, ts *taskState) error {
	n := 0
	defer func() { ts.in.Add(float64(n)) }()
	for {
		var best *partQueue
		blocked := false
		for _, q := range ts.queues {
			// A transaction marker at the head only moves the position.
			for q.head < len(q.recs) && q.recs[q.head].Attrs.IsControl() {
				r := q.recs[q.head]
				q.recs[q.head] = nil
				q.head++
				ts.offsets[q.tp] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
				if r.Offset+1 >= q.end {
					q.caughtUp = true
				}
				r.Recycle()
			}
			if q.head < len(q.recs) {
				if best == nil || q.recs[q.head].Timestamp.Before(best.recs[best.head].Timestamp) {
					best = q
				}
			} else if !q.caughtUp {
				blocked = true
			}
		}
		if best == nil {
			ts.idleSince = time.Time{}
			break
		}
		if blocked {
			if ts.idleSince.IsZero() {
				ts.idleSince = time.Now()
			}
			if time.Since(ts.idleSince) < a.cfg.MaxTaskIdle {
				break // wait for the partition that is behind
			}
		} else {
			ts.idleSince = time.Time{}
		}
		r := best.recs[best.head]
		best.recs[best.head] = nil
		best.head++
		if err := a.processRecord(ctx, ts, r); err != nil {
			return err
		}
		n++
		ts.offsets[best.tp] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		if r.Offset+1 >= best.end {
			best.caughtUp = true
		}
		r.Recycle()
	}
	if d := ts.task.LateDropped(); d > ts.lateSeen {
		ts.late.Add(float64(d - ts.lateSeen))
		ts.lateSeen = d
	}
	return nil
}
