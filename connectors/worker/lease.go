package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// leaseSessionTimeout is how long a dead worker keeps a source task's lease.
const leaseSessionTimeout = 10 * time.Second

// runLeased runs a source task only while this worker holds the task's
// lease, so that several workers sharing the internal topics never run the
// same source twice. The lease is partition 0 of the configs topic in the
// consumer group "connect-<name>-source-<task>": the group gives it to one
// member at a time, and a member gives it up (its revoke callback returns)
// only after its source has stopped, delivering and committing what it
// polled. Nothing is ever fetched through the lease group.
func (t *sourceTask) runLeased(ctx context.Context) error {
	e := &t.env
	w := e.w
	group := leaseGroup(e)

	var mu sync.Mutex
	var held bool // this worker holds the lease (per the group)
	var cancelRun context.CancelFunc
	var runDone chan error
	failed := make(chan error, 1)
	fenced := make(chan struct{}, 1)
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		if !held || runDone != nil {
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		cancelRun, runDone = cancel, done
		e.log.Info("source task lease acquired", "group", group)
		go func() {
			err := t.run(rctx)
			switch {
			case errors.Is(err, errFenced):
				// A newer instance runs elsewhere and reports the
				// task's status: do not overwrite it.
				t.setStateLocal(StateUnassigned, err.Error())
				select {
				case fenced <- struct{}{}:
				default:
				}
			case err != nil && rctx.Err() == nil:
				e.log.Error("task failed", "err", err)
				t.setState(StateFailed, err.Error())
			}
			done <- err
			if err != nil && rctx.Err() == nil && !errors.Is(err, errFenced) {
				select {
				case failed <- err:
				default:
				}
			}
		}()
	}
	// stop stops the task. publish says whether to report it UNASSIGNED in
	// the status topic: yes when handing the lease over (the next holder
	// starts after this returns), no when the lease was lost (the next
	// holder may be running the task already and owns its status).
	stop := func(publish bool) {
		mu.Lock()
		defer mu.Unlock()
		if runDone == nil {
			return
		}
		cancelRun()
		<-runDone
		cancelRun, runDone = nil, nil
		e.log.Info("source task lease released", "group", group)
		if publish {
			t.setState(StateUnassigned, "")
		} else {
			t.setStateLocal(StateUnassigned, "")
		}
	}
	setHeld := func(h bool) {
		mu.Lock()
		held = h
		mu.Unlock()
	}
	holds := func(m map[string][]int32) bool {
		for _, p := range m[w.cfg.ConfigTopic] {
			if p == 0 {
				return true
			}
		}
		return false
	}
	// Static membership, as for sink tasks: a worker that crashes and comes
	// back (same worker id) takes its leases back at once; a graceful stop
	// leaves explicitly so another worker need not wait.
	instance := leaseInstance(e)
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.ConsumerGroup(group),
		kgo.InstanceID(instance),
		kgo.ConsumeTopics(w.cfg.ConfigTopic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(leaseSessionTimeout),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				setHeld(true)
				start()
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				setHeld(false)
				stop(true)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				setHeld(false)
				stop(false)
			}
		}),
	)...)
	if err != nil {
		return e.fail("lease client", err)
	}
	cl.PauseFetchTopics(w.cfg.ConfigTopic)
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case runErr = <-failed:
			// The task failed while holding the lease: keep holding it
			// (the task stays FAILED here until restarted, as in Kafka
			// Connect) until told to stop.
			<-ctx.Done()
			break wait
		case <-fenced:
			// An exactly-once task was fenced by a newer instance: this
			// worker's lease is stale, and the group will say so
			// within a session timeout. If it still says this worker
			// holds the lease after that, the newer instance was not
			// the lease's doing: take the task back.
			tm := time.NewTimer(leaseSessionTimeout)
			select {
			case <-ctx.Done():
				tm.Stop()
				break wait
			case <-tm.C:
			}
			mu.Lock()
			again := held && runDone != nil
			mu.Unlock()
			if again {
				e.log.Warn("source task fenced while this worker still holds its lease; starting it again")
				stop(false)
				start()
			}
		}
	}
	stop(true)
	cl.Close()
	w.leaveGroup(ctx, group, instance, e.log)
	if runErr != nil {
		return runErr
	}
	return ctx.Err()
}

// leaseGroup is the consumer group whose partition 0 is a source task's
// lease.
func leaseGroup(e *taskEnv) string { return fmt.Sprintf("connect-%s-source-%d", e.connector, e.id) }

// leaseInstance is this worker's static member id in a lease group.
func leaseInstance(e *taskEnv) string {
	return fmt.Sprintf("%s-%s-source-%d", e.w.cfg.WorkerID, e.connector, e.id)
}

// holdsLease asks the group coordinator whether this worker holds the
// task's lease now. The lease client learns of a lost lease only at its
// next heartbeat; this asks at once, for decisions a stale view must not
// make (an exactly-once task about to fence whoever else runs it).
func (t *sourceTask) holdsLease(ctx context.Context) (bool, error) {
	e := &t.env
	groups, err := e.w.store.adm.DescribeGroups(ctx, leaseGroup(e))
	if err != nil {
		return false, fmt.Errorf("describe lease group: %w", err)
	}
	g, ok := groups[leaseGroup(e)]
	if !ok {
		return false, nil
	}
	if g.Err != nil {
		return false, fmt.Errorf("describe lease group: %w", g.Err)
	}
	instance := leaseInstance(e)
	for _, m := range g.Members {
		if m.InstanceID == nil || *m.InstanceID != instance {
			continue
		}
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			return false, nil
		}
		for _, at := range a.Topics {
			if at.Topic != e.w.cfg.ConfigTopic {
				continue
			}
			for _, p := range at.Partitions {
				if p == 0 {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
