package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// Connector and task states, as Kafka Connect names them.
const (
	StateUnassigned = "UNASSIGNED"
	StateRunning    = "RUNNING"
	StatePaused     = "PAUSED"
	StateFailed     = "FAILED"
	StateRestarting = "RESTARTING"
)

// Target states stored in the configs topic.
const (
	TargetStarted = "STARTED"
	TargetPaused  = "PAUSED"
)

// taskEnv is what a task needs from its worker and connector.
type taskEnv struct {
	w         *Worker
	connector string
	id        int
	tasks     int // how many tasks the connector has
	plugin    connectors.Plugin
	cfg       connectors.Config // parsed plugin + common config
	gen       int
	log       *slog.Logger
	policy    retryPolicy
}

// task is one running source or sink task. Its goroutine is owned by the
// task: stop cancels it and waits.
type task struct {
	env    taskEnv
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	state   string
	trace   string
	paused  bool
	pauseCh chan struct{} // closed and replaced whenever paused changes
}

func newTask(env taskEnv, paused bool) *task {
	return &task{env: env, done: make(chan struct{}), state: StateUnassigned, paused: paused, pauseCh: make(chan struct{})}
}

// start runs fn in the task's goroutine; it ends in FAILED with the error's
// text as trace, or UNASSIGNED when stopped cleanly.
func (t *task) start(parent context.Context, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(parent)
	t.cancel = cancel
	go func() {
		defer close(t.done)
		defer cancel()
		err := fn(ctx)
		if err != nil && ctx.Err() == nil {
			t.env.log.Error("task failed", "err", err)
			t.setState(StateFailed, err.Error())
			return
		}
		if err != nil {
			t.env.log.Info("task stopped", "err", err)
		}
		t.setState(StateUnassigned, "")
	}()
}

// stop asks the task to finish (delivering and committing what it has) and
// waits for it.
func (t *task) stop() {
	if t.cancel != nil {
		t.cancel()
	}
	<-t.done
}

func (t *task) setState(state, trace string) {
	t.mu.Lock()
	changed := t.state != state || t.trace != trace
	t.state, t.trace = state, trace
	t.mu.Unlock()
	if !changed {
		return
	}
	e := t.env
	e.w.m.setTaskState(e.connector, e.id, state)
	e.w.store.writeStatus(taskStatusKey(e.connector, e.id), &statusValue{State: state, Trace: trace, WorkerID: e.w.cfg.WorkerID, Generation: e.gen})
}

// setStateLocal changes the state this worker reports without writing it
// to the status topic: for a task another worker has taken over (its lease
// lost, its producer fenced), whose status record is that worker's now.
func (t *task) setStateLocal(state, trace string) {
	t.mu.Lock()
	t.state, t.trace = state, trace
	t.mu.Unlock()
	e := t.env
	e.w.m.setTaskState(e.connector, e.id, state)
}

func (t *task) status() (string, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state, t.trace
}

func (t *task) setPaused(p bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.paused == p {
		return
	}
	t.paused = p
	close(t.pauseCh)
	t.pauseCh = make(chan struct{})
}

// pausedCh reports whether the task is paused and a channel closed when that
// changes.
func (t *task) pausedCh() (bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused, t.pauseCh
}

// waitResumed blocks while the task is paused, with its state PAUSED. It
// returns false when ctx ends first.
func (t *task) waitResumed(ctx context.Context, onPause func()) bool {
	for {
		p, ch := t.pausedCh()
		if !p {
			return true
		}
		if onPause != nil {
			onPause()
			onPause = nil
		}
		t.setState(StatePaused, "")
		select {
		case <-ctx.Done():
			return false
		case <-ch:
			t.setState(StateRunning, "")
		}
	}
}

func taskStatusKey(connector string, id int) string {
	return "status-task-" + connector + "-" + strconv.Itoa(id)
}

func connectorStatusKey(connector string) string { return "status-connector-" + connector }

// fail wraps err with what the task was doing, for its status trace (the
// logger already carries the connector and task).
func (e *taskEnv) fail(what string, err error) error {
	return fmt.Errorf("%s: %w", what, err)
}
