package engine

import (
	"context"
	"errors"
	"time"
)

// The exactly-once side of the group callbacks and of shutdown. One
// transaction holds the work of every task, so a revocation commits all of
// them (the eager protocol revokes everything anyway), and anything that
// prevents a commit restarts all of them.

// errPartitionsLost is the cause of an abort after the group took
// partitions away without a revocation (session timeout).
var errPartitionsLost = errors.New("partitions lost")

// revokeTxn commits the transaction and closes the revoked tasks cleanly,
// with checkpoints, so that whoever gets them next (often this instance)
// restores only what it misses. If the commit fails, the transaction is
// aborted and every task closes without a checkpoint. Called with a.mu
// held.
func (a *App) revokeTxn(revoked []*taskState, parts map[string][]int32) {
	err := a.commitTxn(a.runCtx)
	if err == nil {
		for _, ts := range revoked {
			a.closeTaskClean(ts)
		}
		a.log.Info("revoked", "tasks", len(revoked))
		return
	}
	a.log.Error("exactly-once: commit on revoke failed; the work since the last commit is aborted", "err", err)
	if !a.abortable(err) {
		a.setFatal(err)
	}
	if rerr := a.restartTasks(a.runCtx, err, tpSet(parts)); rerr != nil {
		a.setFatal(rerr)
	}
}

// loseTxn aborts the transaction after the group moved partitions away
// without a revocation: this instance is no longer the generation that
// may commit them. Tasks that are still owned start again from the last
// commit. Called with a.mu held.
func (a *App) loseTxn(lost map[string][]int32) {
	a.log.Warn("partitions lost; aborting the open transaction", "partitions", lost)
	if err := a.restartTasks(a.runCtx, errPartitionsLost, tpSet(lost)); err != nil {
		a.setFatal(err)
	}
}

// shutdownTxn commits and closes every task cleanly after a graceful stop;
// after a failure, or if that commit fails, it aborts the transaction and
// closes the tasks without checkpoints. Called with a.mu held.
func (a *App) shutdownTxn(loopErr error) {
	ctx, cancel := context.WithTimeout(a.runCtx, a.cfg.TransactionTimeout+30*time.Second)
	defer cancel()
	if loopErr == nil {
		err := a.commitTxn(ctx)
		if err == nil {
			for _, ts := range a.sortedTasks() {
				a.closeTaskClean(ts)
			}
			return
		}
		a.log.Error("final commit failed; aborting the open transaction", "err", err)
	}
	if err := a.abortTxn(ctx); err != nil {
		a.log.Error("abort on shutdown failed; the broker aborts the transaction after its timeout", "err", err)
	}
	for _, ts := range a.sortedTasks() {
		a.closeTask(ts)
	}
}

// closeTaskClean syncs a task's stores and writes its checkpoint, then
// closes it. Only right after a committed transaction: the stores then
// hold exactly what the changelogs hold up to the checkpoint.
func (a *App) closeTaskClean(ts *taskState) {
	if err := ts.checkpoint(); err != nil {
		a.log.Warn("checkpoint on close failed; the task restores from scratch next time", "task", ts.id, "err", err)
	}
	a.closeTask(ts)
}

func tpSet(parts map[string][]int32) map[tp]bool {
	out := map[tp]bool{}
	for t, ps := range parts {
		for _, p := range ps {
			out[tp{t, p}] = true
		}
	}
	return out
}

// setFatal records an error that stops the application at the next turn
// of the poll loop (from callbacks, which cannot return one).
func (a *App) setFatal(err error) {
	a.errMu.Lock()
	if a.fatalErr == nil {
		a.fatalErr = err
	}
	a.errMu.Unlock()
}

func (a *App) getFatal() error {
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.fatalErr
}
