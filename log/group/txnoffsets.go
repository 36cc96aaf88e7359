package group

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Transactional offset commits (KIP-98, KIP-447). TxnOffsetCommit writes
// the offsets as a transactional batch of the producer into the group's
// __consumer_offsets partition and holds them as pending: OffsetFetch does
// not return them (and answers UNSTABLE_OFFSET_COMMIT to consumers that
// require stable offsets) until the transaction coordinator's marker
// arrives in that partition, when CompleteTxn applies them (commit) or
// drops them (abort). Load replays the same: transactional records become
// pending, markers apply or drop them.

// TxnOffsetCommit stores offsets as part of a producer's transaction. The
// partition log refuses the write unless the producer's transaction is
// Ongoing at its epoch with the group's partition added (AddOffsetsToTxn);
// that refusal comes back as the error code the log's error carries.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, exists PartitionCheck) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	code := int16(0)
	var g *group
	switch {
	case req.Group == "":
		code = kerr.InvalidGroupID.Code
	case c.isClosed():
		code = kerr.CoordinatorNotAvailable.Code
	default:
		g = c.getOrCreate(req.Group)
		g.mu.Lock()
		defer g.mu.Unlock()
		code = g.validateTxnCommit(req)
	}
	var recs []kv
	type slot struct{ t, p int }
	var slots []slot
	nowMs := c.cfg.Now().UnixMilli()
	for ti, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			switch {
			case code != 0:
			case p.Metadata != nil && len(*p.Metadata) > MaxOffsetMetadataBytes:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case exists != nil && !exists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				o := txnOffset(req.Version, p, nowMs)
				recs = append(recs, offsetRecord(req.Group, t.Topic, p.Partition, o))
				slots = append(slots, slot{ti, len(rt.Partitions)})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(recs) == 0 {
		if g != nil {
			c.removeIfDead(g)
		}
		return resp
	}
	l := c.logs[c.PartitionFor(g.name)]
	if err := l.Append(encodeProducerBatch(recs, nowMs, req.ProducerID, req.ProducerEpoch)); err != nil {
		code := kerr.CoordinatorNotAvailable.Code
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
			code = ke.Code
			if code == kerr.InvalidProducerEpoch.Code && req.Version >= 3 {
				// The producer-fenced code arrived with v3 (KIP-447).
				code = kerr.ProducerFenced.Code
			}
			c.log.Info("refusing transactional offset commit", "group", req.Group, "producer_id", req.ProducerID, "err", err)
		} else {
			c.log.Error("persisting transactional offsets", "group", req.Group, "err", err)
		}
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = code
		}
		c.removeIfDead(g)
		return resp
	}
	for _, s := range slots {
		t := req.Topics[s.t]
		p := t.Partitions[s.p]
		c.addPending(g, req.ProducerID, t.Topic, p.Partition, txnOffset(req.Version, p, nowMs))
	}
	return resp
}

func txnOffset(version int16, p kmsg.TxnOffsetCommitRequestTopicPartition, nowMs int64) offset {
	o := offset{Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, CommitMs: nowMs}
	if version < 2 {
		o.LeaderEpoch = -1
	}
	if p.Metadata != nil {
		o.Metadata = *p.Metadata
	}
	return o
}

func offsetRecord(groupName, topic string, partition int32, o offset) kv {
	key := kmsg.NewOffsetCommitKey()
	key.Version = 1
	key.Group, key.Topic, key.Partition = groupName, topic, partition
	val := kmsg.NewOffsetCommitValue()
	val.Version = 3
	val.Offset, val.LeaderEpoch, val.Metadata, val.CommitTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitMs
	return kv{key: key.AppendTo(nil), value: val.AppendTo(nil)}
}

// validateTxnCommit applies KIP-447's checks: a member id must belong to
// the group and a generation must be the current one, so that a producer
// whose partitions were reassigned cannot commit offsets for them. Old
// clients (v0–v2) send neither and are not checked. Callers hold g.mu.
func (g *group) validateTxnCommit(req *kmsg.TxnOffsetCommitRequest) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.MemberID != "" {
		m := g.members[req.MemberID]
		if m == nil {
			return kerr.UnknownMemberID.Code
		}
		if req.InstanceID != nil && *req.InstanceID != m.instanceID {
			return kerr.FencedInstanceID.Code
		}
	}
	if req.Generation >= 0 && req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// addPending records an offset of pid's open transaction. Callers hold g.mu.
func (c *Coordinator) addPending(g *group, pid int64, topic string, partition int32, o offset) {
	if g.txnOffsets == nil {
		g.txnOffsets = make(map[int64]map[string]map[int32]offset)
	}
	byTopic := g.txnOffsets[pid]
	if byTopic == nil {
		byTopic = make(map[string]map[int32]offset)
		g.txnOffsets[pid] = byTopic
	}
	ps := byTopic[topic]
	if ps == nil {
		ps = make(map[int32]offset)
		byTopic[topic] = ps
	}
	o.order = g.nextOrder()
	ps[partition] = o
	c.mu.Lock()
	gs := c.txnGroups[pid]
	if gs == nil {
		gs = make(map[string]struct{})
		c.txnGroups[pid] = gs
	}
	gs[g.name] = struct{}{}
	c.mu.Unlock()
}

// hasPending reports whether an open transaction committed an offset for
// the partition. Callers hold g.mu.
func (g *group) hasPending(topic string, partition int32) bool {
	for _, byTopic := range g.txnOffsets {
		if _, ok := byTopic[topic][partition]; ok {
			return true
		}
	}
	return false
}

// CompleteTxn applies (commit) or drops (abort) the offsets producerID's
// transaction committed to groups in __consumer_offsets partition
// partition. The broker calls it once the transaction marker is in that
// partition; a marker for a producer with nothing pending is a no-op.
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, commit bool) {
	c.mu.Lock()
	var names []string
	for name := range c.txnGroups[producerID] {
		if c.PartitionFor(name) == partition {
			names = append(names, name)
		}
	}
	c.mu.Unlock()
	for _, name := range names {
		g := c.get(name)
		if g == nil {
			c.forgetPending(producerID, name)
			continue
		}
		g.mu.Lock()
		c.completeGroup(g, producerID, commit)
		c.removeIfDead(g)
		g.mu.Unlock()
	}
}

// completeGroup applies or drops pid's pending offsets of g. Callers hold
// g.mu.
func (c *Coordinator) completeGroup(g *group, pid int64, commit bool) {
	if commit {
		for topic, ps := range g.txnOffsets[pid] {
			for p, o := range ps {
				// A plain commit written after the transactional
				// one wins, as in Kafka.
				if cur, ok := g.offsets[topic][p]; !ok || cur.order < o.order {
					g.putOffset(topic, p, o)
				}
			}
		}
	}
	delete(g.txnOffsets, pid)
	c.forgetPending(pid, g.name)
}

func (c *Coordinator) forgetPending(pid int64, name string) {
	c.mu.Lock()
	if gs := c.txnGroups[pid]; gs != nil {
		delete(gs, name)
		if len(gs) == 0 {
			delete(c.txnGroups, pid)
		}
	}
	c.mu.Unlock()
}

// replay applies one record of __consumer_offsets partition partition
// during Load: plain records at once, transactional ones as pending until
// their producer's marker.
func (c *Coordinator) replay(partition int32, r logRecord) error {
	switch {
	case r.marker:
		c.CompleteTxn(partition, r.producerID, r.commit)
		return nil
	case r.producerID >= 0:
		return c.replayTxnOffset(r)
	default:
		return c.apply(r.key, r.value)
	}
}

func (c *Coordinator) replayTxnOffset(r logRecord) error {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(r.key); err != nil || (k.Version != 0 && k.Version != 1) {
		return fmt.Errorf("transactional record of producer %d: not an offset commit key (%v)", r.producerID, err)
	}
	if r.value == nil {
		return fmt.Errorf("transactional offset tombstone of producer %d for group %q", r.producerID, k.Group)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(r.value); err != nil {
		return fmt.Errorf("transactional offset commit value for group %q: %w", k.Group, err)
	}
	g := c.getOrCreate(k.Group)
	g.mu.Lock()
	defer g.mu.Unlock()
	c.addPending(g, r.producerID, k.Topic, k.Partition, offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitMs: v.CommitTimestamp})
	return nil
}
