package engine

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/operators"
)

// A task's stream time (the largest record timestamp it has processed)
// travels with its committed offsets, in the OffsetCommit metadata string
// of each of its source partitions, as Kafka Streams does. On assignment a
// task starts from the stream time that belongs to the offsets it resumes
// from, so windows that had closed stay closed (replayed records for them
// are dropped as late and nothing is emitted again), stream-time
// punctuations do not fire again for past intervals, and TTLs keep
// counting. Being part of the commit, it moves with the task to whichever
// instance takes it over, and it is never ahead of or behind the input
// position, which a sidecar file next to the local state could be.
//
// The encoding is Kafka Streams' TopicPartitionMetadata: base64 of a
// version byte (1) and the time as a big-endian int64. Version 2 (Kafka
// Streams 3.x, which appends processor metadata) is read too.

const streamTimeVersion = 1

// ErrStreamTimeMetadata is matched by errors decoding commit metadata.
var ErrStreamTimeMetadata = errors.New("bad stream-time commit metadata")

// encodeStreamTime is the commit metadata for stream time ts.
func encodeStreamTime(ts int64) string {
	var b [9]byte
	b[0] = streamTimeVersion
	binary.BigEndian.PutUint64(b[1:], uint64(ts))
	return base64.StdEncoding.EncodeToString(b[:])
}

// DecodeStreamTime reads the stream time an application committed with
// an offset (kadm's OffsetResponse.Metadata for its group, which is the
// ApplicationID). ok is false (with a nil error) for metadata that is not
// a stream time: empty, or what other clients commit by default (franz-go
// commits the member id). Tools use it to show how far in event time each
// task of an application has got.
func DecodeStreamTime(md string) (ts int64, ok bool, err error) {
	if md == "" {
		return 0, false, nil
	}
	if len(md) > 4096 {
		return 0, false, fmt.Errorf("%w: %d bytes", ErrStreamTimeMetadata, len(md))
	}
	b, err := base64.StdEncoding.DecodeString(md)
	if err != nil || len(b) < 1 {
		return 0, false, nil // not base64: some other client's metadata
	}
	switch b[0] {
	case 1:
		if len(b) != 9 {
			return 0, false, fmt.Errorf("%w: version 1 needs 9 bytes, got %d", ErrStreamTimeMetadata, len(b))
		}
	case 2:
		if len(b) < 9 {
			return 0, false, fmt.Errorf("%w: version 2 needs at least 9 bytes, got %d", ErrStreamTimeMetadata, len(b))
		}
	default:
		return 0, false, nil
	}
	ts = int64(binary.BigEndian.Uint64(b[1:9]))
	if ts < 0 {
		return 0, false, fmt.Errorf("%w: negative stream time %d", ErrStreamTimeMetadata, ts)
	}
	return ts, true, nil
}

// streamTimeMetadata is the commit metadata for the task's stream time
// (false when it has none yet).
func (ts *taskState) streamTimeMetadata() (string, bool) {
	st := ts.task.StreamTime()
	if st == operators.NoTimestamp || st < 0 {
		return "", false
	}
	return encodeStreamTime(st), true
}

// withStreamTimes returns ctx carrying a pre-commit hook that writes each
// task's stream time into the metadata of its partitions' commits.
func withStreamTimes(ctx context.Context, tss []*taskState) context.Context {
	md := map[tp]string{}
	for _, ts := range tss {
		enc, ok := ts.streamTimeMetadata()
		if !ok {
			continue
		}
		for k := range ts.offsets {
			md[k] = enc
		}
	}
	if len(md) == 0 {
		return ctx
	}
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			t := &req.Topics[i]
			for j := range t.Partitions {
				p := &t.Partitions[j]
				if s, ok := md[tp{t.Topic, p.Partition}]; ok {
					p.Metadata = &s
				}
			}
		}
		return nil
	})
}

// committedStreamTimes returns the stream time each of ids had at its last
// commit (tasks without one are absent), from the group's committed
// offsets offs.
func (a *App) committedStreamTimes(offs kadm.OffsetResponses, ids []operators.TaskID) map[operators.TaskID]int64 {
	out := map[operators.TaskID]int64{}
	for _, id := range ids {
		for _, topic := range a.plan.subs[id.SubTopology].sources {
			o, ok := offs.Lookup(topic, id.Partition)
			if !ok || o.Err != nil {
				continue
			}
			st, ok, err := DecodeStreamTime(o.Metadata)
			if err != nil {
				a.log.Warn("ignoring commit metadata", "task", id.String(), "topic", topic, "partition", id.Partition, "err", err)
				continue
			}
			if cur, seen := out[id]; ok && (!seen || st > cur) {
				out[id] = st
			}
		}
	}
	return out
}

// fetchCommitted reads the group's committed offsets, retrying briefly on
// failure. Under exactly-once it asks for stable offsets (KIP-447
// require_stable) and, while an open transaction still holds pending
// offsets for one of want, waits for it to end: at most the transaction
// timeout, after which the broker aborts it. Partitions outside want may
// be pending (another instance's open transaction) and are not waited for.
func (a *App) fetchCommitted(ctx context.Context, want []tp) (kadm.OffsetResponses, error) {
	deadline := time.Now().Add(a.cfg.TransactionTimeout + 30*time.Second)
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
		fctx := ctx
		if a.eos {
			fctx = kadm.RequireStable(ctx)
		}
		offs, err := a.admin.FetchOffsets(fctx, a.cfg.ApplicationID)
		unstable := false
		if err == nil {
			for _, k := range want {
				if o, ok := offs.Lookup(k.topic, k.partition); ok && o.Err != nil {
					err = fmt.Errorf("committed offset of %s/%d: %w", k.topic, k.partition, o.Err)
					unstable = errors.Is(o.Err, kerr.UnstableOffsetCommit)
					break
				}
			}
		}
		if err == nil {
			return offs, nil
		}
		last = err
		if unstable && time.Now().Before(deadline) {
			if attempt%25 == 0 {
				a.log.Info("waiting for a transaction holding committed offsets to end", "err", err)
			}
			continue
		}
		if attempt >= 4 {
			return nil, last
		}
	}
}
