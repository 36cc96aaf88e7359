package operators

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/engine/state"
)

// This file is the runtime core shared by the engine and the test driver:
// a Task runs one sub-topology for one partition, fed raw records, with no
// I/O of its own. Everything it reads and writes goes through TaskConfig.

// InputRecord is a raw record from a source topic. Value == nil is a Kafka
// null (tombstone).
type InputRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// OutputRecord is a raw record a task writes to a topic. Key and Value are
// freshly allocated and owned by the receiver, unless TaskConfig.ReuseBuffers
// is set; a nil Value is a tombstone.
type OutputRecord struct {
	Topic     string
	Key       []byte
	Value     []byte
	Timestamp int64
	Headers   []Header
}

// ErrBadRecord is matched (errors.Is) by the error a task returns for an
// input record it cannot decode. The task is still healthy: the caller
// decides whether to skip the record, send it to a dead-letter topic or stop.
var ErrBadRecord = errors.New("bad record")

// BadRecordError says which input record could not be decoded and why.
type BadRecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *BadRecordError) Error() string {
	return fmt.Sprintf("bad record %s/%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}
func (e *BadRecordError) Unwrap() error        { return e.Err }
func (e *BadRecordError) Is(target error) bool { return target == ErrBadRecord }

// DefaultCacheMaxEntries bounds each store's write cache when TaskConfig
// leaves CacheMaxEntries zero.
const DefaultCacheMaxEntries = 100_000

// TaskConfig wires a task to its environment.
type TaskConfig struct {
	ID            TaskID
	ApplicationID string
	// OpenStore returns the raw store for a spec. Nil opens in-memory
	// stores without changelogs (what a test driver wants).
	OpenStore func(spec state.Spec) (state.KeyValueStore, error)
	// Emit receives every record a sink writes. It must not block for long:
	// batch and send asynchronously.
	Emit func(rec OutputRecord) error
	// ReuseBuffers lets sinks serialize every record into one reused
	// buffer: Emit must then copy Key and Value before returning. It saves
	// an allocation per output record for an Emit that copies anyway.
	ReuseBuffers bool
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// CacheMaxEntries bounds each store's write cache (entries). Writes are
	// cached between flushes so a hot key costs one store write and one
	// changelog record per commit, not one per update.
	CacheMaxEntries int
	// StreamTime is the stream time the task had when its input position
	// was last committed (the engine keeps it in the commit's metadata);
	// the task resumes from it, so windows that closed before a restart
	// stay closed and stream-time punctuations do not fire again. Zero or
	// NoTimestamp: none (a new task).
	StreamTime int64
}

// Task runs one sub-topology for one partition.
type Task struct {
	id    TaskID
	cfg   TaskConfig
	topo  *Topology
	sub   *subTopology
	log   *slog.Logger
	now   func() time.Time
	cache int

	receivers map[int]any
	sources   map[string]func(in *InputRecord) error
	stores    map[string]*openStore
	storeList []*openStore
	inits     []func() error
	closers   []func() error
	flushers  []func() error
	shared    map[string]any // per-task state shared by the nodes of one operation (joins)

	streamTime  int64
	puncts      []*punctuation
	lateDropped int64
	err         error
	closed      bool
}

type openStore struct {
	name  string
	raw   state.KeyValueStore
	typed any
}

type punctuation struct {
	interval int64
	typ      PunctuationType
	next     int64
	fn       func(int64) error
	canceled bool
	started  bool
}

func (p *punctuation) Cancel() { p.canceled = true }

// NewTask builds the processors and opens the stores of sub-topology sub for
// one partition. Call Close when done, even after an error from Process.
func (t *Topology) NewTask(sub int32, cfg TaskConfig) (*Task, error) {
	if sub < 0 || int(sub) >= len(t.subs) {
		return nil, fmt.Errorf("task %v: no sub-topology %d", cfg.ID, sub)
	}
	cfg.ID.SubTopology = sub
	tk := &Task{
		id:         cfg.ID,
		cfg:        cfg,
		topo:       t,
		sub:        t.subs[sub],
		now:        cfg.Now,
		cache:      cfg.CacheMaxEntries,
		receivers:  map[int]any{},
		sources:    map[string]func(*InputRecord) error{},
		stores:     map[string]*openStore{},
		shared:     map[string]any{},
		streamTime: NoTimestamp,
	}
	if cfg.StreamTime != 0 {
		tk.streamTime = cfg.StreamTime
	}
	if tk.now == nil {
		tk.now = time.Now
	}
	if tk.cache <= 0 {
		tk.cache = DefaultCacheMaxEntries
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	tk.log = lg.With("app", cfg.ApplicationID, "task", cfg.ID.String())
	if err := tk.open(); err != nil {
		_ = tk.Close()
		return nil, fmt.Errorf("task %v: %w", cfg.ID, err)
	}
	return tk, nil
}

func (tk *Task) open() error {
	for _, name := range tk.sub.stores {
		def := tk.topo.stores[name].def
		spec := def.spec()
		var raw state.KeyValueStore
		if tk.cfg.OpenStore != nil {
			var err error
			if raw, err = tk.cfg.OpenStore(spec); err != nil {
				return fmt.Errorf("open store %q: %w", name, err)
			}
		} else {
			raw = state.NewMemory(name)
		}
		os := &openStore{name: name, raw: raw}
		tk.stores[name] = os
		tk.storeList = append(tk.storeList, os)
		typed, err := def.open(tk, raw)
		if err != nil {
			return fmt.Errorf("open store %q: %w", name, err)
		}
		os.typed = typed
	}
	// Children were created after their parents, so building in reverse
	// creation order builds every child before the nodes that feed it.
	for i := len(tk.sub.nodes) - 1; i >= 0; i-- {
		n := tk.sub.nodes[i]
		r, err := n.build(tk)
		if err != nil {
			return fmt.Errorf("processor %q: %w", n.name, err)
		}
		tk.receivers[n.id] = r
	}
	for _, f := range tk.inits {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// ID is the task's id.
func (tk *Task) ID() TaskID { return tk.id }

// LateDropped counts records dropped because they arrived after their
// window closed (stream time past window end plus grace).
func (tk *Task) LateDropped() int64 { return tk.lateDropped }

// StreamTime is the largest timestamp the task has processed.
func (tk *Task) StreamTime() int64 { return tk.streamTime }

// Process runs one input record through the sub-topology. A
// *BadRecordError (errors.Is ErrBadRecord) means the record could not be
// decoded and nothing was changed; any other error means the task failed
// and must be closed.
func (tk *Task) Process(in *InputRecord) error {
	if tk.err != nil {
		return tk.err
	}
	src := tk.sources[in.Topic]
	if src == nil {
		return fmt.Errorf("task %v: record from topic %q, which this task does not read", tk.id, in.Topic)
	}
	if err := src(in); err != nil {
		return err
	}
	if tk.err != nil {
		return tk.err
	}
	return tk.punctuateStream()
}

// advance moves stream time forward; sources call it before forwarding.
func (tk *Task) advance(ts int64) {
	if ts > tk.streamTime {
		tk.streamTime = ts
	}
}

// fail records the first error of the record being processed; the task
// stops processing once failed.
func (tk *Task) fail(err error) {
	if err != nil && tk.err == nil {
		tk.err = fmt.Errorf("task %v: %w", tk.id, err)
	}
}

func (tk *Task) schedule(interval time.Duration, typ PunctuationType, fn func(int64) error) Cancellable {
	iv := interval.Milliseconds()
	if iv < 1 {
		iv = 1
	}
	p := &punctuation{interval: iv, typ: typ, fn: fn}
	if typ == WallClockTime {
		p.next = tk.now().UnixMilli() + iv
		p.started = true
	} else if tk.streamTime != NoTimestamp {
		p.next = tk.streamTime + iv
		p.started = true
	}
	tk.puncts = append(tk.puncts, p)
	return p
}

func (tk *Task) punctuateStream() error {
	for _, p := range tk.puncts {
		if p.canceled || p.typ != StreamTime {
			continue
		}
		if !p.started {
			p.started = true
			p.next = tk.streamTime
		}
		if tk.streamTime >= p.next {
			for p.next <= tk.streamTime {
				p.next += p.interval
			}
			tk.fail(p.fn(tk.streamTime))
			if tk.err != nil {
				return tk.err
			}
		}
	}
	return nil
}

// Punctuate fires the wall-clock punctuations that are due at now.
func (tk *Task) Punctuate(now time.Time) error {
	if tk.err != nil {
		return tk.err
	}
	ms := now.UnixMilli()
	for _, p := range tk.puncts {
		if p.canceled || p.typ != WallClockTime || ms < p.next {
			continue
		}
		for p.next <= ms {
			p.next += p.interval
		}
		tk.fail(p.fn(ms))
		if tk.err != nil {
			return tk.err
		}
	}
	return nil
}

// Flush writes every cached store write into the raw stores (and so, in the
// engine, to their changelogs). Call before committing input offsets.
func (tk *Task) Flush() error {
	if tk.err != nil {
		return tk.err
	}
	for _, f := range tk.flushers {
		if err := f(); err != nil {
			tk.fail(err)
			return tk.err
		}
	}
	return nil
}

// Stores returns the task's raw stores by name (for restoring, flushing and
// checkpointing by the engine, and for inspection by a test driver).
func (tk *Task) Stores() map[string]state.KeyValueStore {
	out := make(map[string]state.KeyValueStore, len(tk.stores))
	for n, s := range tk.stores {
		out[n] = s.raw
	}
	return out
}

// Close closes the processors and the stores; it does not flush (call Flush
// first to keep cached writes).
func (tk *Task) Close() error {
	if tk.closed {
		return nil
	}
	tk.closed = true
	var errs []error
	for _, c := range tk.closers {
		if err := c(); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range tk.storeList {
		if err := s.raw.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store %q: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// emit hands a sink's output to the environment.
func (tk *Task) emit(rec OutputRecord) {
	if tk.cfg.Emit == nil {
		return
	}
	tk.fail(tk.cfg.Emit(rec))
}

func (tk *Task) topicName(ti TopicInfo) string { return ti.TopicName(tk.cfg.ApplicationID) }

// receiverOf returns the built input receiver of n for typed forwarding.
func receiverOf[K, V any](tk *Task, n *node) (receiver[K, V], error) {
	r, ok := tk.receivers[n.id].(receiver[K, V])
	if !ok {
		var k K
		var v V
		return nil, fmt.Errorf("internal: processor %q does not take (%T, %T) records", n.name, k, v)
	}
	return r, nil
}

// fanout builds the forwarder to n's children.
func fanout[K, V any](tk *Task, n *node) (receiver[K, V], error) {
	rs := make([]receiver[K, V], 0, len(n.children))
	for _, c := range n.children {
		r, err := receiverOf[K, V](tk, c)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	switch len(rs) {
	case 0:
		return discard[K, V]{}, nil
	case 1:
		return rs[0], nil
	}
	return multi[K, V](rs), nil
}

// receiver is the input of a built processor node.
type receiver[K, V any] interface{ process(r Record[K, V]) }

type recvFunc[K, V any] func(r Record[K, V])

func (f recvFunc[K, V]) process(r Record[K, V]) { f(r) }

type discard[K, V any] struct{}

func (discard[K, V]) process(Record[K, V]) {}

type multi[K, V any] []receiver[K, V]

func (m multi[K, V]) process(r Record[K, V]) {
	for _, c := range m {
		c.process(r)
	}
}

// procContext implements ProcessorContext for one node of one task.
type procContext[K, V any] struct {
	tk  *Task
	out receiver[K, V]
}

func (c *procContext[K, V]) TaskID() TaskID         { return c.tk.id }
func (c *procContext[K, V]) ApplicationID() string  { return c.tk.cfg.ApplicationID }
func (c *procContext[K, V]) StreamTime() int64      { return c.tk.streamTime }
func (c *procContext[K, V]) WallClock() time.Time   { return c.tk.now() }
func (c *procContext[K, V]) Logger() *slog.Logger   { return c.tk.log }
func (c *procContext[K, V]) task() *Task            { return c.tk }
func (c *procContext[K, V]) Forward(r Record[K, V]) { c.out.process(r) }
func (c *procContext[K, V]) Schedule(iv time.Duration, typ PunctuationType, fn func(int64) error) Cancellable {
	return c.tk.schedule(iv, typ, fn)
}
