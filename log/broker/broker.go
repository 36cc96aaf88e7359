package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/log/group"
	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/txn"
)

// Broker is a single-node Kafka-protocol broker.
type Broker struct {
	cfg       Config
	log       *slog.Logger
	clusterID string
	metrics   *metrics

	store       *storage.Manager
	topics      *topics
	groups      *group.Coordinator
	txns        *txn.Coordinator
	producerIDs *producerIDs
	sessions    *fetchSessions

	// adminMu serializes topic creation, deletion and config changes.
	adminMu sync.Mutex

	ln        net.Listener
	advertise hostPort
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // accept loop, connections, storage maintenance
	connsMu   sync.Mutex
	conns     map[*conn]struct{}
	nconns    atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory (recovering partition logs, topic metadata,
// committed offsets and group state) without listening yet.
func New(cfg Config, logger *slog.Logger) (*Broker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, metaDir), 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	clusterID, err := loadClusterID(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cluster id: %w", err)
	}
	pids, err := loadProducerIDs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	sopt := cfg.Storage
	if sopt.Logger == nil {
		sopt.Logger = logger.With("component", "storage")
	}
	if sopt.Registerer == nil {
		sopt.Registerer = m.reg
	}
	store, err := storage.OpenManager(cfg.DataDir, sopt)
	if err != nil {
		return nil, fmt.Errorf("opening storage: %w", err)
	}
	b := &Broker{
		cfg:         cfg,
		log:         logger,
		clusterID:   clusterID,
		metrics:     m,
		store:       store,
		topics:      newTopics(cfg.DataDir),
		producerIDs: pids,
		sessions:    newFetchSessions(cfg.MaxFetchSessions),
		conns:       make(map[*conn]struct{}),
	}
	if err := b.loadTopics(); err != nil {
		store.Close()
		return nil, err
	}
	if err := b.openGroups(); err != nil {
		store.Close()
		return nil, err
	}
	if err := b.openTxns(); err != nil {
		b.groups.Close()
		store.Close()
		return nil, err
	}
	b.metrics.registerGauges(b)
	return b, nil
}

// Registry returns the Prometheus registry holding the broker's metrics.
func (b *Broker) Registry() *prometheus.Registry { return b.metrics.reg }

// ClusterID returns the cluster id persisted in the data directory.
func (b *Broker) ClusterID() string { return b.clusterID }

// Start listens and serves until ctx ends or Close is called. The listener
// is open when Start returns.
func (b *Broker) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", b.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", b.cfg.Listen, err)
	}
	adv := b.cfg.AdvertisedAddr
	if adv == "" {
		adv = ln.Addr().String()
	}
	hp, err := splitHostPort(adv)
	if err != nil {
		ln.Close()
		return fmt.Errorf("advertised address %q: %w", adv, err)
	}
	if hp.host == "" || hp.host == "0.0.0.0" || hp.host == "::" {
		// A wildcard listener cannot be dialed as such; tell clients
		// the loopback address unless told otherwise.
		hp.host = "127.0.0.1"
	}
	b.ln, b.advertise = ln, hp
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.wg.Add(4)
	go func() { defer b.wg.Done(); b.store.Run(b.ctx) }()
	go func() { defer b.wg.Done(); b.groups.Run(b.ctx) }()
	go func() { defer b.wg.Done(); b.txns.Run(b.ctx) }()
	go func() { defer b.wg.Done(); b.acceptLoop() }()
	go func() {
		select {
		case <-ctx.Done():
			b.Close()
		case <-b.ctx.Done():
		}
	}()
	b.log.Info("broker listening", "addr", ln.Addr().String(), "advertised", adv, "data_dir", b.cfg.DataDir, "cluster_id", b.clusterID)
	return nil
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() string {
	if b.ln == nil {
		return ""
	}
	return b.ln.Addr().String()
}

func (b *Broker) acceptLoop() {
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			b.log.Warn("accept failed", "err", err)
			continue
		}
		if n := b.nconns.Add(1); n > int64(b.cfg.MaxConnections) {
			b.nconns.Add(-1)
			b.metrics.connsRejected.Inc()
			b.log.Warn("refusing connection: too many connections", "remote", nc.RemoteAddr().String(), "limit", b.cfg.MaxConnections)
			nc.Close()
			continue
		}
		c := newConn(b, nc)
		b.connsMu.Lock()
		if b.ctx.Err() != nil {
			b.connsMu.Unlock()
			nc.Close()
			b.nconns.Add(-1)
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.connsMu.Unlock()
		go func() {
			defer b.wg.Done()
			c.serve()
			b.connsMu.Lock()
			delete(b.conns, c)
			b.connsMu.Unlock()
			b.nconns.Add(-1)
		}()
	}
}

// Close stops accepting, closes every connection, stops the group
// coordinator, and flushes and checkpoints every partition log.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.cancel != nil {
			b.cancel()
		}
		if b.ln != nil {
			b.ln.Close()
		}
		b.connsMu.Lock()
		for c := range b.conns {
			c.close()
		}
		b.connsMu.Unlock()
		if b.txns != nil {
			b.txns.Close()
		}
		if b.groups != nil {
			b.groups.Close()
		}
		b.wg.Wait()
		b.closeErr = b.store.Close()
		if b.closeErr != nil {
			b.log.Error("closing storage", "err", b.closeErr)
		} else {
			b.log.Info("broker stopped; logs flushed")
		}
	})
	return b.closeErr
}
