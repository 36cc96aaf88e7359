package group

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionLog is one partition of __consumer_offsets as the coordinator
// needs it. The broker adapts its storage log to it.
type PartitionLog interface {
	// Append appends one uncompressed record batch and returns when it is
	// in the log (flushed according to the topic's flush policy). A
	// transactional batch (TxnOffsetCommit) carries its producer id and
	// epoch with sequence 0: the log checks it against the transaction
	// coordinator (returning an error that wraps the *kerr.Error to
	// answer when the transaction does not allow it) and assigns the
	// producer's next sequence.
	Append(batch []byte) error
	// Scan calls fn with the log's batches from the start, in order.
	Scan(ctx context.Context, fn func(batches []byte) error) error
}

// Config holds the coordinator's limits, named as Kafka's broker settings.
type Config struct {
	// MinSessionTimeout and MaxSessionTimeout bound a member's session
	// timeout (group.min/max.session.timeout.ms).
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// InitialRebalanceDelay holds the first rebalance of an empty group so
	// that members starting together join one generation
	// (group.initial.rebalance.delay.ms).
	InitialRebalanceDelay time.Duration
	// MaxGroupSize caps members per group (group.max.size).
	MaxGroupSize int
	// OffsetsRetention drops the committed offsets of a group that has
	// had no members for this long, counted from when it became empty or
	// from its last commit, whichever is later (offsets.retention.minutes).
	OffsetsRetention time.Duration
	// RetentionCheckInterval is how often Run looks for expired offsets
	// (offsets.retention.check.interval.ms).
	RetentionCheckInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns Kafka's defaults, except InitialRebalanceDelay: Kafka
// waits 3s; a single-node Sluice starts groups at once.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout: 6 * time.Second,
		MaxSessionTimeout: 30 * time.Minute,
		MaxGroupSize:      1 << 20,
		// Kafka's defaults: 7 days, checked every 10 minutes.
		OffsetsRetention:       7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
	}
}

// ErrClosed is returned by Load after Close.
var ErrClosed = errors.New("group coordinator closed")

// Coordinator owns every consumer group of the broker. All methods are safe
// for concurrent use.
type Coordinator struct {
	cfg  Config
	log  *slog.Logger
	logs []PartitionLog

	mu     sync.Mutex
	groups map[string]*group
	closed bool
	// txnGroups: producer id -> groups holding offsets that producer's
	// open transaction committed (TxnOffsetCommit), applied or dropped
	// by its marker.
	txnGroups map[int64]map[string]struct{}
}

// New returns a coordinator that stores groups hashed over logs (one per
// __consumer_offsets partition). Call Load before serving.
func New(cfg Config, logs []PartitionLog, logger *slog.Logger) *Coordinator {
	d := DefaultConfig()
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = d.MinSessionTimeout
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = d.MaxSessionTimeout
	}
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = d.MaxGroupSize
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = d.OffsetsRetention
	}
	if cfg.RetentionCheckInterval <= 0 {
		cfg.RetentionCheckInterval = d.RetentionCheckInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Coordinator{cfg: cfg, log: logger, logs: logs, groups: make(map[string]*group), txnGroups: make(map[int64]map[string]struct{})}
}

// PartitionFor returns the __consumer_offsets partition that holds group.
func (c *Coordinator) PartitionFor(group string) int32 {
	h := fnv.New32a()
	h.Write([]byte(group))
	return int32(h.Sum32() % uint32(len(c.logs)))
}

// Load replays every partition and rebuilds groups and committed offsets.
// Members of restored groups must heartbeat within their session timeout or
// are removed, as in Kafka after a coordinator move.
func (c *Coordinator) Load(ctx context.Context) error {
	for p, l := range c.logs {
		err := l.Scan(ctx, func(batches []byte) error {
			_, err := decodeBatches(batches, func(r logRecord) {
				if err := c.replay(int32(p), r); err != nil {
					c.log.Warn("skipping unreadable __consumer_offsets record",
						"partition", p, "offset", r.offset, "err", err)
				}
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("loading __consumer_offsets partition %d: %w", p, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, g := range c.groups {
		g.mu.Lock()
		if len(g.members) == 0 && len(g.offsets) == 0 && len(g.txnOffsets) == 0 {
			delete(c.groups, name)
		}
		for _, m := range g.members {
			g.scheduleExpiry(m)
		}
		g.mu.Unlock()
	}
	return nil
}

// apply replays one record during Load.
func (c *Coordinator) apply(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("key of %d bytes", len(key))
	}
	switch version := int16(key[0])<<8 | int16(key[1]); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("offset commit key: %w", err)
		}
		g := c.getOrCreate(k.Group)
		g.mu.Lock()
		defer g.mu.Unlock()
		if value == nil {
			g.deleteOffset(k.Topic, k.Partition)
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("offset commit value for group %q: %w", k.Group, err)
		}
		g.setOffset(k.Topic, k.Partition, offset{Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata, CommitMs: v.CommitTimestamp})
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("group metadata key: %w", err)
		}
		g := c.getOrCreate(k.Group)
		g.mu.Lock()
		defer g.mu.Unlock()
		if value == nil {
			g.resetMembership()
			g.offsets = nil
			return nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("group metadata value for group %q: %w", k.Group, err)
		}
		g.restore(&v)
	default:
		return fmt.Errorf("unknown key version %d", version)
	}
	return nil
}

func (c *Coordinator) getOrCreate(name string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[name]
	if g == nil {
		g = newGroup(c, name)
		c.groups[name] = g
	}
	return g
}

func (c *Coordinator) get(name string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[name]
}

// removeIfDead forgets g when it holds nothing. Callers hold g.mu.
func (c *Coordinator) removeIfDead(g *group) {
	if len(g.members) > 0 || len(g.offsets) > 0 || len(g.txnOffsets) > 0 || g.state != stateEmpty {
		return
	}
	c.mu.Lock()
	if c.groups[g.name] == g {
		delete(c.groups, g.name)
	}
	c.mu.Unlock()
	g.state = stateDead
}

// persist appends records for g to its partition.
func (c *Coordinator) persist(g *group, recs []kv) error {
	if len(recs) == 0 {
		return nil
	}
	l := c.logs[c.PartitionFor(g.name)]
	return l.Append(encodeBatch(recs, c.cfg.Now().UnixMilli()))
}

// Close stops every timer and fails every pending join or sync, so that no
// goroutine the coordinator started outlives it.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.shutdown()
		g.mu.Unlock()
	}
}

func (c *Coordinator) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// snapshot returns the groups sorted by name.
func (c *Coordinator) snapshot() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
