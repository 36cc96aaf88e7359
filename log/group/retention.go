package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Run expires committed offsets of long-empty groups every
// RetentionCheckInterval until ctx ends. The broker runs it in a goroutine
// it owns.
func (c *Coordinator) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

// ExpireOffsets deletes (with tombstones) the offsets and metadata of every
// group that has been empty, and has not committed, for OffsetsRetention. It
// returns how many groups it expired.
func (c *Coordinator) ExpireOffsets() int {
	now := c.cfg.Now()
	expired := 0
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state == stateEmpty && len(g.members) == 0 && len(g.offsets) > 0 {
			last := g.stateSince
			for _, ps := range g.offsets {
				for _, o := range ps {
					if t := time.UnixMilli(o.CommitMs); t.After(last) {
						last = t
					}
				}
			}
			if now.Sub(last) >= c.cfg.OffsetsRetention {
				var recs []kv
				for topic, ps := range g.offsets {
					for p := range ps {
						key := kmsg.NewOffsetCommitKey()
						key.Version = 1
						key.Group, key.Topic, key.Partition = g.name, topic, p
						recs = append(recs, kv{key: key.AppendTo(nil)})
					}
				}
				gk := kmsg.NewGroupMetadataKey()
				gk.Version = 2
				gk.Group = g.name
				recs = append(recs, kv{key: gk.AppendTo(nil)})
				if err := c.persist(g, recs); err != nil {
					c.log.Error("expiring group offsets", "group", g.name, "err", err)
				} else {
					c.log.Info("expired offsets of an empty group", "group", g.name, "empty_since", last)
					g.offsets = nil
					c.removeIfDead(g)
					expired++
				}
			}
		}
		g.mu.Unlock()
	}
	return expired
}
