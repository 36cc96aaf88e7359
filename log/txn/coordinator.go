package txn

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StateLog is one partition of __transaction_state as the coordinator needs
// it. The broker adapts its storage log to it.
type StateLog interface {
	// Append appends one uncompressed record batch and returns once it is
	// in the log (flushed as the topic's flush policy says).
	Append(batch []byte) error
	// Scan calls fn with the log's batches from the start, in order.
	Scan(ctx context.Context, fn func(batches []byte) error) error
}

// Broker is what the coordinator drives in the rest of the broker.
type Broker interface {
	// WriteMarker appends a COMMIT (commit true) or ABORT transaction
	// marker for producerID at epoch to a partition. It returns an error
	// wrapping ErrPartitionGone when the partition no longer exists (its
	// topic was deleted): there is nothing left to mark.
	WriteMarker(tp TopicPartition, producerID int64, epoch int16, commit bool) error
	// PartitionExists reports whether a partition exists.
	PartitionExists(topic string, partition int32) bool
	// NewProducerID returns a producer id never handed out before.
	NewProducerID() (int64, error)
}

// ErrPartitionGone is wrapped by Broker.WriteMarker for a deleted partition.
var ErrPartitionGone = errors.New("partition no longer exists")

// Config holds the coordinator's settings, named as Kafka's broker settings.
type Config struct {
	// MaxTimeout caps the transaction timeout a producer may ask for
	// (transaction.max.timeout.ms); InitProducerId beyond it fails with
	// INVALID_TRANSACTION_TIMEOUT.
	MaxTimeout time.Duration
	// AbortCheckInterval is how often Run looks for transactions past
	// their timeout and for unfinished completions
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	AbortCheckInterval time.Duration
	// IDExpiration forgets a transactional id with no transaction for
	// this long (transactional.id.expiration.ms).
	IDExpiration time.Duration
	// ExpirationCheckInterval is how often Run looks for expired ids
	// (transaction.remove.expired.transaction.cleanup.interval.ms).
	ExpirationCheckInterval time.Duration
	// MaxPartitionsPerTxn caps the partitions one transaction may span;
	// AddPartitionsToTxn beyond it is refused.
	MaxPartitionsPerTxn int
	// MaxTransactionalIDs caps how many transactional ids the coordinator
	// tracks; InitProducerId for a new id beyond it is refused with
	// COORDINATOR_NOT_AVAILABLE until ids expire.
	MaxTransactionalIDs int
	// Registerer receives the coordinator's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MaxTimeout:              15 * time.Minute,
		AbortCheckInterval:      10 * time.Second,
		IDExpiration:            7 * 24 * time.Hour,
		ExpirationCheckInterval: time.Hour,
		MaxPartitionsPerTxn:     100000,
		MaxTransactionalIDs:     1 << 20,
	}
}

// WithDefaults fills zero fields with DefaultConfig's values.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = d.MaxTimeout
	}
	if c.AbortCheckInterval <= 0 {
		c.AbortCheckInterval = d.AbortCheckInterval
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = d.IDExpiration
	}
	if c.ExpirationCheckInterval <= 0 {
		c.ExpirationCheckInterval = d.ExpirationCheckInterval
	}
	if c.MaxPartitionsPerTxn <= 0 {
		c.MaxPartitionsPerTxn = d.MaxPartitionsPerTxn
	}
	if c.MaxTransactionalIDs <= 0 {
		c.MaxTransactionalIDs = d.MaxTransactionalIDs
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// failpointEnv names the crash-test hook described in the package doc.
const failpointEnv = "SLUICE_TXN_FAILPOINT"

// Coordinator owns every transactional id of the broker. All methods are
// safe for concurrent use.
type Coordinator struct {
	cfg     Config
	log     *slog.Logger
	logs    []StateLog
	broker  Broker
	metrics *metrics

	hangAfterPrepare bool
	ctx              context.Context // ends at Close: stops a hung failpoint
	cancel           context.CancelFunc

	mu     sync.Mutex // guards the maps; never held while taking another lock
	txns   map[string]*txn
	byPID  map[int64]*txn
	closed bool
}

// ErrClosed is returned by Load after Close.
var ErrClosed = errors.New("transaction coordinator closed")

// New returns a coordinator that keeps transactional ids hashed over logs
// (one per __transaction_state partition). Call Load before serving.
func New(cfg Config, logs []StateLog, broker Broker, logger *slog.Logger) *Coordinator {
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:     cfg.WithDefaults(),
		log:     logger,
		logs:    logs,
		broker:  broker,
		ctx:     ctx,
		cancel:  cancel,
		txns:    make(map[string]*txn),
		byPID:   make(map[int64]*txn),
		metrics: newMetrics(),
	}
	if os.Getenv(failpointEnv) == "hang-after-prepare" {
		c.hangAfterPrepare = true
		logger.Warn("test failpoint enabled: EndTxn hangs after its prepare record", "env", failpointEnv)
	}
	c.metrics.register(c.cfg.Registerer, c)
	return c
}

// PartitionFor returns the __transaction_state partition that holds id.
func (c *Coordinator) PartitionFor(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() % uint32(len(c.logs)))
}

// Load replays every partition of __transaction_state, then completes the
// transactions that a crash left in a prepare state (writing their markers
// again). A completion that fails is left for Run to retry.
func (c *Coordinator) Load(ctx context.Context) error {
	for p, l := range c.logs {
		err := l.Scan(ctx, func(batches []byte) error {
			return decodeBatches(batches, func(key, value []byte) error {
				id, m, err := decodeRecord(key, value)
				if err != nil {
					c.log.Warn("skipping unreadable __transaction_state record", "partition", p, "err", err)
					return nil
				}
				c.replay(id, m)
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("loading __transaction_state partition %d: %w", p, err)
		}
	}
	c.mu.Lock()
	n := len(c.txns)
	c.mu.Unlock()
	pending := c.completeAll(ctx)
	c.log.Info("transaction coordinator loaded", "transactional_ids", n, "completed_after_restart", pending)
	return nil
}

// replay applies one record during Load.
func (c *Coordinator) replay(id string, m *meta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.txns[id]
	if old != nil && c.byPID[old.cur.producerID] == old {
		delete(c.byPID, old.cur.producerID)
	}
	if m == nil {
		delete(c.txns, id)
		return
	}
	t := old
	if t == nil {
		t = newTxn(id)
		c.txns[id] = t
	}
	t.cur = *m
	t.set = make(map[TopicPartition]struct{}, len(m.parts))
	for _, tp := range m.parts {
		t.set[tp] = struct{}{}
	}
	c.byPID[m.producerID] = t
}

// completeAll finishes every transaction in a prepare state and returns how
// many it found.
func (c *Coordinator) completeAll(ctx context.Context) int {
	n := 0
	for _, t := range c.snapshot() {
		t.view.RLock()
		preparing := t.cur.state.preparing()
		t.view.RUnlock()
		if !preparing {
			continue // without waiting for a transition in progress
		}
		t.mu.Lock()
		if !t.removed && t.cur.state.preparing() {
			n++
			if err := c.complete(ctx, t); err != nil {
				c.log.Warn("transaction not completed yet; retrying later", "transactional_id", t.id, "state", t.cur.state, "err", err)
			}
		}
		t.mu.Unlock()
	}
	return n
}

// snapshot returns every transactional id's txn, sorted by id.
func (c *Coordinator) snapshot() []*txn {
	c.mu.Lock()
	out := make([]*txn, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, t)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// get returns the txn of id, or nil.
func (c *Coordinator) get(id string) *txn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txns[id]
}

// lock returns id's txn with its mu held, or nil. It looks again if the
// id expired while it waited for the lock.
func (c *Coordinator) lock(id string) *txn {
	for {
		t := c.get(id)
		if t == nil {
			return nil
		}
		t.mu.Lock()
		if !t.removed {
			return t
		}
		t.mu.Unlock()
	}
}

var errTooManyIDs = errors.New("too many transactional ids")

// lockOrCreate is lock, creating the id (in memory only) if it is new.
func (c *Coordinator) lockOrCreate(id string) (*txn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		t := c.txns[id]
		if t == nil {
			if len(c.txns) >= c.cfg.MaxTransactionalIDs {
				c.mu.Unlock()
				return nil, fmt.Errorf("%w: %d (transactional ids are forgotten after %v without a transaction)", errTooManyIDs, len(c.txns), c.cfg.IDExpiration)
			}
			t = newTxn(id)
			c.txns[id] = t
		}
		c.mu.Unlock()
		t.mu.Lock()
		if !t.removed {
			return t, nil
		}
		t.mu.Unlock()
	}
}

// write appends m as id's new state to __transaction_state and, once it is
// in the log, makes it current. The caller holds t.mu.
func (c *Coordinator) write(t *txn, m meta) error {
	if c.isClosed() {
		return ErrClosed
	}
	sortParts(m.parts)
	batch := encodeBatch(encodeKey(t.id), encodeValue(&m), c.cfg.Now().UnixMilli())
	if err := c.logs[c.PartitionFor(t.id)].Append(batch); err != nil {
		c.metrics.logErrors.Inc()
		return fmt.Errorf("transactional id %q: writing %s to __transaction_state: %w", t.id, m.state, err)
	}
	c.apply(t, m)
	return nil
}

// apply makes m current. The caller holds t.mu.
func (c *Coordinator) apply(t *txn, m meta) {
	old := t.cur.producerID
	set := make(map[TopicPartition]struct{}, len(m.parts))
	for _, tp := range m.parts {
		set[tp] = struct{}{}
	}
	t.view.Lock()
	t.cur, t.set = m, set
	t.view.Unlock()
	if old != m.producerID {
		c.mu.Lock()
		if c.byPID[old] == t {
			delete(c.byPID, old)
		}
		c.byPID[m.producerID] = t
		c.mu.Unlock()
	}
}

// remove forgets t (expired). The caller holds t.mu.
func (c *Coordinator) remove(t *txn) {
	t.removed = true
	c.mu.Lock()
	if c.txns[t.id] == t {
		delete(c.txns, t.id)
	}
	if c.byPID[t.cur.producerID] == t {
		delete(c.byPID, t.cur.producerID)
	}
	c.mu.Unlock()
}

func (c *Coordinator) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close stops the coordinator: later requests fail with
// COORDINATOR_NOT_AVAILABLE and a hung failpoint returns. Run's goroutine
// is stopped by its context.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }
