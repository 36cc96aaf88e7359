package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/log/group"
	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/txn"
	"github.com/sluicehq/sluice/log/wire"
)

// Config configures a Broker. Zero values take the defaults in
// DefaultConfig; limits on everything that arrives from the network are
// named here.
type Config struct {
	// DataDir holds partition logs and the broker's metadata.
	DataDir string
	// Listen is the TCP address to listen on (host:port; port 0 picks one).
	Listen string
	// AdvertisedAddr is the host:port clients are told to dial; empty
	// means the listener's address.
	AdvertisedAddr string
	// NodeID is this broker's id in metadata responses.
	NodeID int32
	// Rack is reported in metadata (broker.rack); empty for none.
	Rack string

	// MaxRequestBytes caps one request frame (socket.request.max.bytes);
	// the size prefix is checked before anything is allocated.
	MaxRequestBytes int32
	// MaxConnections caps concurrent client connections; extra ones are
	// closed at once with a log line.
	MaxConnections int
	// MaxInflightPerConnection caps requests read from a connection whose
	// responses are not yet written (pipelining depth).
	MaxInflightPerConnection int
	// IdleTimeout closes connections with no request for this long
	// (connections.max.idle.ms).
	IdleTimeout time.Duration
	// MaxFetchSessions caps the KIP-227 fetch-session cache
	// (max.incremental.fetch.session.cache.slots).
	MaxFetchSessions int
	// MaxFetchWait caps a Fetch request's max wait.
	MaxFetchWait time.Duration

	// DefaultPartitions is used for auto-created topics and CreateTopics
	// with -1 partitions (num.partitions).
	DefaultPartitions int32
	// MaxPartitionsPerTopic refuses CreateTopics/CreatePartitions beyond it.
	MaxPartitionsPerTopic int32
	// AutoCreateTopics creates unknown topics on Metadata requests that
	// allow it (auto.create.topics.enable).
	AutoCreateTopics bool
	// OffsetsTopicPartitions is the partition count of __consumer_offsets
	// when it is first created (offsets.topic.num.partitions).
	OffsetsTopicPartitions int32

	// TopicDefaults are the broker-wide topic config defaults (log.*
	// settings); per-topic configs override them.
	TopicDefaults storage.Config
	// TopicDefaultOverrides records which TopicDefaults keys the operator
	// set (reported as STATIC_BROKER_CONFIG by DescribeConfigs).
	TopicDefaultOverrides map[string]string
	// Storage are engine-wide storage limits.
	Storage storage.Options
	// Groups are the group coordinator's limits.
	Groups group.Config
	// TxnStateTopicPartitions is the partition count of
	// __transaction_state when it is first created
	// (transaction.state.log.num.partitions).
	TxnStateTopicPartitions int32
	// Transactions are the transaction coordinator's settings.
	Transactions txn.Config
}

// DefaultConfig returns a configuration with Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		Listen:                   "127.0.0.1:9092",
		MaxRequestBytes:          wire.DefaultMaxFrameBytes,
		MaxConnections:           10000,
		MaxInflightPerConnection: 100,
		IdleTimeout:              10 * time.Minute,
		MaxFetchSessions:         1000,
		MaxFetchWait:             30 * time.Second,
		DefaultPartitions:        1,
		MaxPartitionsPerTopic:    10000,
		AutoCreateTopics:         true,
		OffsetsTopicPartitions:   8,
		TopicDefaults:            storage.DefaultConfig(),
		Groups:                   group.DefaultConfig(),
		TxnStateTopicPartitions:  8,
		Transactions:             txn.DefaultConfig(),
	}
}

// ErrInvalidConfig is wrapped by validation errors from New.
var ErrInvalidConfig = errors.New("invalid broker config")

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = d.MaxRequestBytes
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxInflightPerConnection <= 0 {
		c.MaxInflightPerConnection = d.MaxInflightPerConnection
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxFetchSessions <= 0 {
		c.MaxFetchSessions = d.MaxFetchSessions
	}
	if c.MaxFetchWait <= 0 {
		c.MaxFetchWait = d.MaxFetchWait
	}
	if c.DefaultPartitions <= 0 {
		c.DefaultPartitions = d.DefaultPartitions
	}
	if c.MaxPartitionsPerTopic <= 0 {
		c.MaxPartitionsPerTopic = d.MaxPartitionsPerTopic
	}
	if c.OffsetsTopicPartitions <= 0 {
		c.OffsetsTopicPartitions = d.OffsetsTopicPartitions
	}
	if c.TxnStateTopicPartitions <= 0 {
		c.TxnStateTopicPartitions = d.TxnStateTopicPartitions
	}
	c.Transactions = c.Transactions.WithDefaults()
	if c.TopicDefaults == (storage.Config{}) {
		c.TopicDefaults = d.TopicDefaults
	}
	return c
}

func (c Config) validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("%w: DataDir is required", ErrInvalidConfig)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("%w: listen address %q: %v", ErrInvalidConfig, c.Listen, err)
	}
	if c.AdvertisedAddr != "" {
		if _, err := splitHostPort(c.AdvertisedAddr); err != nil {
			return fmt.Errorf("%w: advertised address %q: %v", ErrInvalidConfig, c.AdvertisedAddr, err)
		}
	}
	if c.NodeID < 0 {
		return fmt.Errorf("%w: node id %d is negative", ErrInvalidConfig, c.NodeID)
	}
	return nil
}

type hostPort struct {
	host string
	port int32
}

func splitHostPort(addr string) (hostPort, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return hostPort{}, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return hostPort{}, fmt.Errorf("port %q: %w", p, err)
	}
	return hostPort{host: h, port: int32(n)}, nil
}
