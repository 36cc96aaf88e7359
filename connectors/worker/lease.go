package worker

import (
	"context"
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
	group := fmt.Sprintf("connect-%s-source-%d", e.connector, e.id)

	var mu sync.Mutex
	var cancelRun context.CancelFunc
	var runDone chan error
	failed := make(chan error, 1)
	start := func() {
		mu.Lock()
		defer mu.Unlock()
		if runDone != nil {
			return
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		cancelRun, runDone = cancel, done
		e.log.Info("source task lease acquired", "group", group)
		go func() {
			err := t.run(rctx)
			if err != nil && rctx.Err() == nil {
				e.log.Error("task failed", "err", err)
				t.setState(StateFailed, err.Error())
			}
			done <- err
			if err != nil && rctx.Err() == nil {
				select {
				case failed <- err:
				default:
				}
			}
		}()
	}
	stop := func() {
		mu.Lock()
		defer mu.Unlock()
		if runDone == nil {
			return
		}
		cancelRun()
		<-runDone
		cancelRun, runDone = nil, nil
		e.log.Info("source task lease released", "group", group)
		t.setState(StateUnassigned, "")
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
	instance := fmt.Sprintf("%s-%s-source-%d", w.cfg.WorkerID, e.connector, e.id)
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.ConsumerGroup(group),
		kgo.InstanceID(instance),
		kgo.ConsumeTopics(w.cfg.ConfigTopic),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(leaseSessionTimeout),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				start()
			}
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				stop()
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if holds(m) {
				stop()
			}
		}),
	)...)
	if err != nil {
		return e.fail("lease client", err)
	}
	cl.PauseFetchTopics(w.cfg.ConfigTopic)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		// The task failed while holding the lease: keep holding it (the
		// task stays FAILED here until restarted, as in Kafka Connect)
		// until told to stop.
		<-ctx.Done()
	}
	stop()
	cl.Close()
	w.leaveGroup(ctx, group, instance, e.log)
	if runErr != nil {
		return runErr
	}
	return ctx.Err()
}
