package broker

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/group"
	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/wire"
)

// internalLog adapts a partition of an internal topic (__consumer_offsets,
// __transaction_state) to group.PartitionLog and txn.StateLog.
type internalLog struct {
	b *Broker
	p *partition
}

// Append appends a coordinator's batch. A transactional batch (the group
// coordinator's TxnOffsetCommit) is verified against the transaction
// coordinator and given its producer's next sequence, both under the
// append lock.
func (o internalLog) Append(batch []byte) error {
	p := o.p
	if p.offline != nil {
		return p.offline
	}
	p.appendMu.Lock()
	if pid, epoch, ok := transactionalProducer(batch); ok {
		if err := o.b.verifyTxnAppend(pid, epoch, p); err != nil {
			p.appendMu.Unlock()
			return fmt.Errorf("%s-%d: %w", p.topic, p.index, err)
		}
		setSequence(batch, nextSequence(p.log, pid, epoch))
	}
	_, err := p.log.Append(batch, storage.AppendOptions{LeaderEpoch: leaderEpoch, Origin: storage.OriginCoordinator})
	if err == nil {
		p.log.SetHighWatermark(p.log.LogEndOffset())
	}
	p.appendMu.Unlock()
	if err != nil {
		return fmt.Errorf("%s-%d: %w", p.topic, p.index, err)
	}
	p.notify()
	return nil
}

func (o internalLog) Scan(ctx context.Context, fn func([]byte) error) error {
	if o.p.offline != nil {
		// Its groups start empty; commits to them fail until the
		// partition is repaired.
		return nil
	}
	l := o.p.log
	off, end := l.LogStartOffset(), l.LogEndOffset()
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := l.Read(off, 1<<20, end)
		if err != nil {
			return fmt.Errorf("reading %s-%d at %d: %w", o.p.topic, o.p.index, off, err)
		}
		next := nextOffset(res.Data)
		if len(res.Data) == 0 || next <= off {
			return nil
		}
		if err := fn(res.Data); err != nil {
			return err
		}
		off = next
	}
	return nil
}

// nextOffset returns the offset after the last whole batch in data, or -1.
func nextOffset(data []byte) int64 {
	next := int64(-1)
	for len(data) >= 61 {
		n := int(int32(binary.BigEndian.Uint32(data[8:12])))
		if n < 49 || len(data) < 12+n {
			break
		}
		base := int64(binary.BigEndian.Uint64(data))
		next = base + int64(int32(binary.BigEndian.Uint32(data[23:27]))) + 1
		data = data[12+n:]
	}
	return next
}

// openGroups creates __consumer_offsets on first start and loads the group
// coordinator from it.
func (b *Broker) openGroups() error {
	t := b.topics.get(offsetsTopic)
	if t == nil {
		var err error
		t, err = b.createTopic(offsetsTopic, b.cfg.OffsetsTopicPartitions, map[string]string{
			"cleanup.policy":   "compact",
			"segment.bytes":    "104857600",
			"compression.type": "producer",
		}, true, false)
		if err != nil {
			return fmt.Errorf("creating %s: %w", offsetsTopic, err)
		}
	}
	logs := make([]group.PartitionLog, len(t.parts))
	for i, p := range t.parts {
		logs[i] = internalLog{b, p}
	}
	b.groups = group.New(b.cfg.Groups, logs, b.log.With("component", "groups"))
	if err := b.groups.Load(context.Background()); err != nil {
		return err
	}
	return nil
}

func (c *conn) clientHost() string {
	host, _, err := net.SplitHostPort(c.remote)
	if err != nil {
		return c.remote
	}
	return "/" + host
}

func (c *conn) handleJoinGroup(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.JoinGroup(c.ctx, r.(*kmsg.JoinGroupRequest), h.ClientID, c.clientHost()), nil
}

func (c *conn) handleSyncGroup(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.SyncGroup(c.ctx, r.(*kmsg.SyncGroupRequest)), nil
}

func (c *conn) handleHeartbeat(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.Heartbeat(r.(*kmsg.HeartbeatRequest)), nil
}

func (c *conn) handleLeaveGroup(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.LeaveGroup(r.(*kmsg.LeaveGroupRequest)), nil
}

func (c *conn) handleOffsetCommit(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.OffsetCommit(r.(*kmsg.OffsetCommitRequest), c.b.topics.exists), nil
}

func (c *conn) handleOffsetFetch(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.OffsetFetch(r.(*kmsg.OffsetFetchRequest)), nil
}

func (c *conn) handleOffsetDelete(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.OffsetDelete(r.(*kmsg.OffsetDeleteRequest)), nil
}

func (c *conn) handleDescribeGroups(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.DescribeGroups(r.(*kmsg.DescribeGroupsRequest)), nil
}

func (c *conn) handleListGroups(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.ListGroups(r.(*kmsg.ListGroupsRequest)), nil
}

func (c *conn) handleDeleteGroups(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	return c.b.groups.DeleteGroups(r.(*kmsg.DeleteGroupsRequest)), nil
}
