package txn

import (
	"context"
	"errors"
	"time"
)

// Run aborts transactions past their timeout and retries unfinished
// completions every AbortCheckInterval, and forgets expired transactional
// ids every ExpirationCheckInterval, until ctx ends. The broker runs it in a
// goroutine it owns.
func (c *Coordinator) Run(ctx context.Context) {
	abort := time.NewTicker(c.cfg.AbortCheckInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpirationCheckInterval)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-abort.C:
			c.AbortTimedOut(ctx)
			c.completeAll(ctx)
		case <-expire.C:
			c.ExpireIDs()
		}
	}
}

// AbortTimedOut aborts, with a bumped epoch, every Ongoing transaction
// older than its timeout, and returns how many it aborted. The producer is
// fenced; it may resume with InitProducerId and its old epoch (KIP-588).
func (c *Coordinator) AbortTimedOut(ctx context.Context) int {
	n := 0
	for _, t := range c.snapshot() {
		t.view.RLock()
		expired := t.cur.state == Ongoing && c.nowMs()-t.cur.startMs > int64(t.cur.timeoutMs)
		t.view.RUnlock()
		if !expired {
			continue
		}
		t.mu.Lock()
		m := t.cur
		if !t.removed && m.state == Ongoing && c.nowMs()-m.startMs > int64(m.timeoutMs) {
			err := c.fence(ctx, t, m.epoch)
			switch {
			case err == nil || errors.Is(err, errMarkersPending):
				n++
				c.metrics.timedOut.Inc()
				c.log.Info("aborted a transaction past its timeout", "transactional_id", t.id, "producer_id", m.producerID,
					"epoch", m.epoch, "timeout_ms", m.timeoutMs, "started", time.UnixMilli(m.startMs), "partitions", len(m.parts))
			case ctx.Err() == nil:
				c.log.Error("aborting a transaction past its timeout", "transactional_id", t.id, "err", err)
			}
		}
		t.mu.Unlock()
	}
	return n
}

// ExpireIDs forgets (with a tombstone) every transactional id with no
// transaction whose last update is older than IDExpiration, and returns
// how many it forgot.
func (c *Coordinator) ExpireIDs() int {
	n := 0
	cutoff := c.nowMs() - c.cfg.IDExpiration.Milliseconds()
	for _, t := range c.snapshot() {
		t.mu.Lock()
		m := t.cur
		idle := m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort
		if !t.removed && idle && m.updateMs < cutoff {
			err := error(nil)
			if m.epoch != noEpoch { // never written: nothing to tombstone
				err = c.logs[c.PartitionFor(t.id)].Append(encodeBatch(encodeKey(t.id), nil, c.nowMs()))
			}
			if err != nil {
				c.log.Error("expiring transactional id", "transactional_id", t.id, "err", err)
			} else {
				c.remove(t)
				n++
			}
		}
		t.mu.Unlock()
	}
	if n > 0 {
		c.log.Info("expired idle transactional ids", "count", n, "idle_for", c.cfg.IDExpiration)
	}
	return n
}
