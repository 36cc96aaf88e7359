package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/connectors"
)

// ConnectorInfo is a connector's config and tasks, as GET /connectors/{name}
// returns it.
type ConnectorInfo struct {
	Name   string            `json:"name"`
	Config map[string]string `json:"config"`
	Tasks  []TaskID          `json:"tasks"`
	Type   string            `json:"type"`
}

// TaskID names a task.
type TaskID struct {
	Connector string `json:"connector"`
	Task      int    `json:"task"`
}

// ConnectorStatus is GET /connectors/{name}/status.
type ConnectorStatus struct {
	Name      string      `json:"name"`
	Connector StateInfo   `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
	Type      string      `json:"type"`
}

// StateInfo is a connector's state.
type StateInfo struct {
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// TaskState is a task's state.
type TaskState struct {
	ID       int    `json:"id"`
	State    string `json:"state"`
	WorkerID string `json:"worker_id"`
	Trace    string `json:"trace,omitempty"`
}

// maxNameLen bounds connector names (they become group ids and record keys).
const maxNameLen = 249

func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: must be 1 to %d characters", ErrInvalidName, maxNameLen)
	}
	for _, r := range name {
		if r == '/' || unicode.IsControl(r) || unicode.IsSpace(r) && strings.TrimSpace(name) == "" {
			return fmt.Errorf("%w: %q contains %q", ErrInvalidName, name, r)
		}
	}
	if strings.TrimSpace(name) != name {
		return fmt.Errorf("%w: %q has leading or trailing whitespace", ErrInvalidName, name)
	}
	return nil
}

// waitReady blocks until the configs topic has been replayed.
func (w *Worker) waitReady(ctx context.Context) error {
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", ErrNotReady, ctx.Err())
	}
}

// Ready reports whether the worker has replayed its configs and serves.
func (w *Worker) Ready() bool {
	select {
	case <-w.ready:
		return true
	default:
		return false
	}
}

// Connectors returns the names of every connector, sorted.
func (w *Worker) Connectors(ctx context.Context) ([]string, error) {
	if err := w.waitReady(ctx); err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	names := make([]string, 0, len(w.conns))
	for n := range w.conns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// lock waits until the worker is ready, then takes w.mu. Waiting happens
// before locking: startAll needs w.mu to become ready.
func (w *Worker) lock(ctx context.Context) error {
	if err := w.waitReady(ctx); err != nil {
		return err
	}
	w.mu.Lock()
	return nil
}

// get returns connector name. w.mu held.
func (w *Worker) get(name string) (*connector, error) {
	c := w.conns[name]
	if c == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return c, nil
}

func kindOf(c *connector) string {
	if c.plugin.Kind != "" {
		return string(c.plugin.Kind)
	}
	if p, err := connectors.Lookup(c.raw[KeyClass]); err == nil {
		return string(p.Kind)
	}
	return "unknown"
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Info returns a connector's config and tasks.
func (w *Worker) Info(ctx context.Context, name string) (ConnectorInfo, error) {
	if err := w.lock(ctx); err != nil {
		return ConnectorInfo{}, err
	}
	defer w.mu.Unlock()
	c, err := w.get(name)
	if err != nil {
		return ConnectorInfo{}, err
	}
	return w.info(c), nil
}

func (w *Worker) info(c *connector) ConnectorInfo {
	info := ConnectorInfo{Name: c.name, Config: copyMap(c.raw), Tasks: []TaskID{}, Type: kindOf(c)}
	for i := range c.tasks {
		info.Tasks = append(info.Tasks, TaskID{Connector: c.name, Task: i})
	}
	return info
}

// TaskConfigs returns each task's config.
func (w *Worker) TaskConfigs(ctx context.Context, name string) ([]map[string]string, error) {
	if err := w.lock(ctx); err != nil {
		return nil, err
	}
	defer w.mu.Unlock()
	c, err := w.get(name)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, len(c.taskConfigs))
	for i, tc := range c.taskConfigs {
		out[i] = copyMap(tc)
	}
	return out, nil
}

// Status returns the state of a connector and its tasks.
func (w *Worker) Status(ctx context.Context, name string) (ConnectorStatus, error) {
	if err := w.lock(ctx); err != nil {
		return ConnectorStatus{}, err
	}
	defer w.mu.Unlock()
	c, err := w.get(name)
	if err != nil {
		return ConnectorStatus{}, err
	}
	st := ConnectorStatus{
		Name:      c.name,
		Connector: StateInfo{State: c.state, WorkerID: w.cfg.WorkerID, Trace: c.trace},
		Tasks:     []TaskState{},
		Type:      kindOf(c),
	}
	for i, t := range c.tasks {
		state, trace := t.status()
		ts := TaskState{ID: i, State: state, WorkerID: w.cfg.WorkerID, Trace: trace}
		if state == StateUnassigned {
			// Not running here: another worker may hold it (a leased
			// source task); report what that worker wrote.
			if remote, ok := w.status.get(taskStatusKey(c.name, i)); ok && remote.WorkerID != w.cfg.WorkerID {
				ts = TaskState{ID: i, State: remote.State, WorkerID: remote.WorkerID, Trace: remote.Trace}
			}
		}
		st.Tasks = append(st.Tasks, ts)
	}
	return st, nil
}

// writeConfig appends a configs-topic record and waits until this worker
// has applied it.
func (w *Worker) writeConfig(ctx context.Context, key string, value any) error {
	var b []byte
	if value != nil {
		var err error
		if b, err = json.Marshal(value); err != nil {
			return err
		}
	}
	off, err := w.store.produce(ctx, w.cfg.ConfigTopic, []byte(key), b)
	if err != nil {
		return err
	}
	return w.waitApplied(ctx, off)
}

// Create adds a connector. The error is ErrExists, ErrInvalidName, or a
// *connectors.ConfigError with every bad field.
func (w *Worker) Create(ctx context.Context, name string, cfg map[string]string) (ConnectorInfo, error) {
	if err := checkName(name); err != nil {
		return ConnectorInfo{}, err
	}
	if err := w.lock(ctx); err != nil {
		return ConnectorInfo{}, err
	}
	_, err := w.get(name)
	w.mu.Unlock()
	if err == nil {
		return ConnectorInfo{}, fmt.Errorf("%w: %s", ErrExists, name)
	}
	if !errors.Is(err, ErrNotFound) {
		return ConnectorInfo{}, err
	}
	info, _, err := w.PutConfig(ctx, name, cfg)
	return info, err
}

// PutConfig creates or replaces a connector's config; created reports
// which.
func (w *Worker) PutConfig(ctx context.Context, name string, cfg map[string]string) (info ConnectorInfo, created bool, err error) {
	if err := checkName(name); err != nil {
		return ConnectorInfo{}, false, err
	}
	if err := w.waitReady(ctx); err != nil {
		return ConnectorInfo{}, false, err
	}
	cfg = copyMap(cfg)
	if n, ok := cfg[KeyName]; ok && n != name {
		return ConnectorInfo{}, false, &connectors.ConfigError{Errors: []connectors.FieldError{{Field: KeyName,
			Message: fmt.Sprintf("%q does not match the connector name %q in the path", n, name)}}}
	}
	cfg[KeyName] = name
	if _, errs := validateConfigFor(cfg, &w.cfg); len(errs) > 0 {
		return ConnectorInfo{}, false, &connectors.ConfigError{Errors: errs}
	}
	w.mu.Lock()
	_, exists := w.conns[name]
	w.mu.Unlock()
	if err := w.writeConfig(ctx, "connector-"+name, configsValue{Config: cfg}); err != nil {
		return ConnectorInfo{}, false, err
	}
	info, err = w.Info(ctx, name)
	return info, !exists, err
}

// Delete removes a connector, stopping its tasks. Its source positions and
// consumer group offsets are kept, as in Kafka Connect.
func (w *Worker) Delete(ctx context.Context, name string) error {
	if err := w.lock(ctx); err != nil {
		return err
	}
	_, err := w.get(name)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	if err := w.writeConfig(ctx, "target-state-"+name, nil); err != nil {
		return err
	}
	return w.writeConfig(ctx, "connector-"+name, nil)
}

// Pause stops a connector's tasks from processing (they stay assigned);
// the state survives worker restarts.
func (w *Worker) Pause(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, TargetPaused)
}

// Resume undoes Pause.
func (w *Worker) Resume(ctx context.Context, name string) error {
	return w.setTarget(ctx, name, TargetStarted)
}

func (w *Worker) setTarget(ctx context.Context, name, target string) error {
	if err := w.lock(ctx); err != nil {
		return err
	}
	_, err := w.get(name)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.writeConfig(ctx, "target-state-"+name, targetValue{State: target})
}

// Restart restarts a connector. Like Kafka Connect, without includeTasks it
// restarts only the connector itself (re-reading and re-validating its
// config, which restarts its tasks only if the connector had failed); with
// includeTasks it restarts every task, or with onlyFailed only failed ones.
func (w *Worker) Restart(ctx context.Context, name string, includeTasks, onlyFailed bool) error {
	if err := w.lock(ctx); err != nil {
		return err
	}
	defer w.mu.Unlock()
	c, err := w.get(name)
	if err != nil {
		return err
	}
	if w.stopped {
		return ErrWorkerStopped
	}
	if c.state == StateFailed {
		// A failed connector has no running tasks: restarting it re-reads
		// its config and starts fresh tasks.
		w.stopConnector(c)
		w.startConnector(c)
		return nil
	}
	if !includeTasks {
		return nil
	}
	for i, t := range c.tasks {
		if state, _ := t.status(); onlyFailed && state != StateFailed {
			continue
		}
		w.restartTask(c, i)
	}
	return nil
}

// RestartTask restarts one task.
func (w *Worker) RestartTask(ctx context.Context, name string, id int) error {
	if err := w.lock(ctx); err != nil {
		return err
	}
	defer w.mu.Unlock()
	c, err := w.get(name)
	if err != nil {
		return err
	}
	if id < 0 || id >= len(c.tasks) {
		return fmt.Errorf("%w: %s/%d", ErrTaskNotFound, name, id)
	}
	if w.stopped {
		return ErrWorkerStopped
	}
	w.restartTask(c, id)
	return nil
}

// restartTask stops and starts task id. w.mu held.
func (w *Worker) restartTask(c *connector, id int) {
	old := c.tasks[id]
	old.setState(StateRestarting, "")
	old.stop()
	c.tasks[id] = w.startTask(c, id)
}

// TaskStatus returns one task's state.
func (w *Worker) TaskStatus(ctx context.Context, name string, id int) (TaskState, error) {
	st, err := w.Status(ctx, name)
	if err != nil {
		return TaskState{}, err
	}
	if id < 0 || id >= len(st.Tasks) {
		return TaskState{}, fmt.Errorf("%w: %s/%d", ErrTaskNotFound, name, id)
	}
	return st.Tasks[id], nil
}

// OffsetInfo is one entry of GET /connectors/{name}/offsets (KIP-875 shape).
type OffsetInfo struct {
	Partition map[string]any `json:"partition"`
	Offset    any            `json:"offset"`
}

// Offsets returns a source connector's stored positions or a sink
// connector's committed consumer group offsets.
func (w *Worker) Offsets(ctx context.Context, name string) ([]OffsetInfo, error) {
	if err := w.lock(ctx); err != nil {
		return nil, err
	}
	c, err := w.get(name)
	var kind string
	if err == nil {
		kind = kindOf(c)
	}
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	out := []OffsetInfo{}
	if kind == string(connectors.KindSource) {
		pos, err := w.store.readPositions(ctx, name)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(pos))
		for k := range pos {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var v any
			_ = json.Unmarshal(pos[k], &v)
			out = append(out, OffsetInfo{Partition: map[string]any{"partition": k}, Offset: v})
		}
		return out, nil
	}
	resp, err := w.store.adm.FetchOffsets(ctx, "connect-"+name)
	if err != nil {
		return nil, fmt.Errorf("fetch group offsets: %w", err)
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			return
		}
		out = append(out, OffsetInfo{
			Partition: map[string]any{"kafka_topic": o.Topic, "kafka_partition": o.Partition},
			Offset:    map[string]any{"kafka_offset": o.At},
		})
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Partition, out[j].Partition
		if a["kafka_topic"] != b["kafka_topic"] {
			return a["kafka_topic"].(string) < b["kafka_topic"].(string)
		}
		return a["kafka_partition"].(int32) < b["kafka_partition"].(int32)
	})
	return out, nil
}
