package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors"
)

// Sentinel errors the REST layer maps to status codes.
var (
	ErrNotFound      = errors.New("connector not found")
	ErrExists        = errors.New("connector already exists")
	ErrNotReady      = errors.New("worker is starting and has not read its configs yet")
	ErrTaskNotFound  = errors.New("task not found")
	ErrInvalidName   = errors.New("invalid connector name")
	ErrWorkerStopped = errors.New("worker stopped")
)

// Worker runs connectors. Make one with New, start it with Run, and serve
// Handler for the REST API.
type Worker struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	store   *store
	schemas *schemaCache

	ready  chan struct{} // closed once the configs topic has been replayed
	status statusView    // the status topic, for tasks other workers run

	mu      sync.Mutex
	runCtx  context.Context
	conns   map[string]*connector
	applied int64         // next configs-topic offset to apply
	advance chan struct{} // closed and replaced when applied moves
	stopped bool
}

// connector is one configured connector and its running tasks.
type connector struct {
	name   string
	raw    map[string]string
	target string
	plugin connectors.Plugin
	state  string // connector-level state
	trace  string
	gen    int
	tasks  []*task
	// taskConfigs are the per-task configs (split sources), for GET tasks.
	taskConfigs []map[string]string
}

// New makes a worker. It does not connect until Run.
func New(cfg Config) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	st, err := newStore(&cfg)
	if err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "connect"),
		store:   st,
		schemas: newSchemaCache(),
		ready:   make(chan struct{}),
		conns:   map[string]*connector{},
		advance: make(chan struct{}),
	}
	w.m = newMetrics(cfg.Registerer)
	return w, nil
}

// WorkerID returns the worker's id as reported in statuses.
func (w *Worker) WorkerID() string { return w.cfg.WorkerID }

// Run creates the internal topics if needed, replays the configs topic,
// starts every configured connector and keeps applying config changes until
// ctx ends. Then it stops every task gracefully (each delivers and commits
// what it has) and returns.
func (w *Worker) Run(ctx context.Context) error {
	defer w.store.close()
	w.mu.Lock()
	w.runCtx = ctx
	w.mu.Unlock()
	if err := (retryPolicy{timeout: -1, maxDelay: w.cfg.OffsetFlushInterval, onRetry: func(n int, err error, d time.Duration) {
		w.log.Warn("cannot create internal topics; retrying", "attempt", n, "err", err)
	}}).do(ctx, func() error { return kafkaRetriable(w.store.ensureTopics(ctx)) }); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	// read_committed, keeping markers: a transactional writer's aborted
	// config records are never applied, and the replay's end (a high
	// watermark) may be a marker.
	cl, err := kgo.NewClient(w.cfg.clientOpts(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.ConfigTopic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)...)
	if err != nil {
		return fmt.Errorf("worker: configs reader: %w", err)
	}
	defer cl.Close()
	statusDone := make(chan struct{})
	go func() { defer close(statusDone); w.readStatus(ctx) }()
	defer func() { <-statusDone }()
	end, err := w.configEnd(ctx)
	if err != nil {
		return err
	}
	replaying := end > 0
	if !replaying {
		w.startAll()
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			w.log.Warn("read configs topic", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				w.apply(r, replaying)
			}
			w.setApplied(r.Offset + 1)
			if replaying && r.Offset+1 >= end {
				replaying = false
				w.startAll()
			}
		})
	}
	w.stopAll()
	return nil
}

func (w *Worker) configEnd(ctx context.Context) (int64, error) {
	var end int64
	err := retryPolicy{timeout: -1, maxDelay: w.cfg.OffsetFlushInterval}.do(ctx, func() error {
		ends, err := w.store.adm.ListEndOffsets(ctx, w.cfg.ConfigTopic)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return kafkaRetriable(err)
		}
		if o, ok := ends.Lookup(w.cfg.ConfigTopic, 0); ok {
			end = o.Offset
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("worker: configs topic end: %w", err)
	}
	return end, nil
}

func (w *Worker) setApplied(next int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if next > w.applied {
		w.applied = next
		close(w.advance)
		w.advance = make(chan struct{})
	}
}

// waitApplied blocks until the configs record at offset has been applied.
func (w *Worker) waitApplied(ctx context.Context, offset int64) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.ApplyTimeout)
	defer cancel()
	for {
		w.mu.Lock()
		done, ch := w.applied > offset, w.advance
		w.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the worker to apply the change: %w", ctx.Err())
		case <-ch:
		}
	}
}

// configsValue is a connector config record.
type configsValue struct {
	Config map[string]string `json:"config"`
}

type targetValue struct {
	State string `json:"state"`
}

// apply folds one configs-topic record into the worker's state; once the
// replay is over it also starts, stops and reconfigures tasks.
func (w *Worker) apply(r *kgo.Record, replaying bool) {
	key := string(r.Key)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case strings.HasPrefix(key, "connector-"):
		name := strings.TrimPrefix(key, "connector-")
		c := w.conns[name]
		if r.Value == nil {
			if c != nil {
				w.stopConnector(c)
				delete(w.conns, name)
				w.m.forget(name)
				w.store.writeStatus(connectorStatusKey(name), nil)
				for i := range c.tasks {
					w.store.writeStatus(taskStatusKey(name, i), nil)
				}
			}
			break
		}
		var v configsValue
		if err := json.Unmarshal(r.Value, &v); err != nil || v.Config == nil {
			w.log.Error("ignoring malformed connector config record", "offset", r.Offset, "key", key, "err", err)
			break
		}
		if c == nil {
			c = &connector{name: name, target: TargetStarted}
			w.conns[name] = c
		} else if !replaying {
			if maps.Equal(c.raw, v.Config) && c.state != StateFailed {
				break // unchanged (a connector file applied again): keep running
			}
			w.stopConnector(c)
		}
		c.raw = v.Config
		if !replaying {
			w.startConnector(c)
		}
	case strings.HasPrefix(key, "target-state-"):
		name := strings.TrimPrefix(key, "target-state-")
		c := w.conns[name]
		if c == nil || r.Value == nil {
			break // a tombstone precedes the connector's deletion
		}
		var v targetValue
		if json.Unmarshal(r.Value, &v) != nil {
			w.log.Error("ignoring malformed target state record", "offset", r.Offset, "key", key)
			break
		}
		c.target = TargetStarted
		if v.State == TargetPaused {
			c.target = TargetPaused
		}
		for _, t := range c.tasks {
			t.setPaused(c.target == TargetPaused)
		}
		if c.state == StateRunning || c.state == StatePaused {
			w.setConnectorState(c, connectorRunState(c), "")
		}
	default:
		w.log.Warn("ignoring unknown configs topic record", "offset", r.Offset, "key", key)
	}
	w.m.connectorCount.Set(float64(len(w.conns)))
}

func connectorRunState(c *connector) string {
	if c.target == TargetPaused {
		return StatePaused
	}
	return StateRunning
}

func (w *Worker) startAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.conns {
		w.startConnector(c)
	}
	select {
	case <-w.ready:
	default:
		close(w.ready)
	}
	w.log.Info("connect worker ready", "connectors", len(w.conns), "worker_id", w.cfg.WorkerID)
}

func (w *Worker) stopAll() {
	w.mu.Lock()
	w.stopped = true
	conns := make([]*connector, 0, len(w.conns))
	for _, c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		for _, t := range c.tasks {
			wg.Add(1)
			go func() { defer wg.Done(); t.stop() }()
		}
	}
	wg.Wait()
	w.store.cl.Flush(context.Background())
}

func (w *Worker) setConnectorState(c *connector, state, trace string) {
	c.state, c.trace = state, trace
	w.store.writeStatus(connectorStatusKey(c.name), &statusValue{State: state, Trace: trace, WorkerID: w.cfg.WorkerID, Generation: c.gen})
}

// startConnector validates c's config and starts its tasks. w.mu held.
func (w *Worker) startConnector(c *connector) {
	c.gen++
	c.tasks, c.taskConfigs = nil, nil
	p, errs := validateConfigFor(c.raw, &w.cfg)
	if len(errs) > 0 {
		w.setConnectorState(c, StateFailed, (&connectors.ConfigError{Errors: errs}).Error())
		w.log.Error("connector config invalid", "connector", c.name, "err", c.trace)
		return
	}
	c.plugin = p
	taskRaws := []map[string]string{c.raw}
	if p.Kind == connectors.KindSink {
		n := int(mustInt(c.raw[KeyTasksMax], 1))
		taskRaws = make([]map[string]string, n)
		for i := range taskRaws {
			taskRaws[i] = c.raw
		}
	} else if split, ok := p.NewSource().(connectors.TaskSplitter); ok {
		cfg, _ := fullSpec(p).Parse(c.raw)
		subs, err := split.TaskConfigs(cfg, int(mustInt(c.raw[KeyTasksMax], 1)))
		if err != nil {
			w.setConnectorState(c, StateFailed, "split into tasks: "+err.Error())
			return
		}
		taskRaws = taskRaws[:0]
		for _, sub := range subs {
			merged := make(map[string]string, len(c.raw)+len(sub))
			for k, v := range c.raw {
				merged[k] = v
			}
			for k, v := range sub {
				merged[k] = v
			}
			taskRaws = append(taskRaws, merged)
		}
	}
	c.taskConfigs = taskRaws
	w.setConnectorState(c, connectorRunState(c), "")
	for i := range taskRaws {
		c.tasks = append(c.tasks, w.startTask(c, i))
	}
}

func mustInt(s string, def int64) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return def
	}
	return n
}

// startTask makes and starts task id of c. w.mu held.
func (w *Worker) startTask(c *connector, id int) *task {
	raw := c.taskConfigs[id]
	log := w.log.With("connector", c.name, "task", id)
	env := taskEnv{w: w, connector: c.name, id: id, tasks: len(c.taskConfigs), plugin: c.plugin, gen: c.gen, log: log}
	cfg, err := fullSpec(c.plugin).Parse(raw)
	t := newTask(env, c.target == TargetPaused)
	if err != nil {
		// Split task configs are the plugin's doing; report, do not run.
		t.setState(StateFailed, err.Error())
		close(t.done)
		return t
	}
	env.cfg = cfg
	env.policy = retryPolicy{
		timeout:  cfg.Duration(KeyRetryTimeout),
		maxDelay: cfg.Duration(KeyRetryDelayMax),
		onRetry: func(n int, err error, d time.Duration) {
			w.m.retries.WithLabelValues(c.name, strconv.Itoa(id)).Inc()
			log.Warn("retriable error; backing off", "attempt", n, "delay", d, "err", err)
			// Show what the task is waiting out in its status trace.
			if state, _ := t.status(); state == StateRunning || state == StateUnassigned {
				t.setState(StateRunning, fmt.Sprintf("retrying (attempt %d): %v", n, err))
			}
		},
		onRecover: func() {
			if state, trace := t.status(); state == StateRunning && trace != "" {
				t.setState(StateRunning, "")
			}
		},
	}
	t.env = env
	ctx := w.runCtx
	if c.plugin.Kind == connectors.KindSink {
		st := &sinkTask{task: t}
		t.start(ctx, st.run)
	} else {
		st := &sourceTask{task: t}
		t.start(ctx, st.runLeased)
	}
	return t
}

// stopConnector stops every task of c gracefully, in parallel. w.mu held:
// tasks never take w.mu, so this cannot deadlock.
func (w *Worker) stopConnector(c *connector) {
	var wg sync.WaitGroup
	for _, t := range c.tasks {
		wg.Add(1)
		go func() { defer wg.Done(); t.stop() }()
	}
	wg.Wait()
}
