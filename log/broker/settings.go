package broker

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/log/storage"
)

// ErrUnknownSetting is wrapped by ApplySettings for a key it does not know.
var ErrUnknownSetting = errors.New("unknown broker setting")

// ApplySettings applies Kafka-style broker settings (as found in a
// server.properties or YAML config file) to cfg. Keys are Kafka's names where
// Kafka has one (log.retention.ms, num.partitions, ...). An unknown key or a
// bad value is an error naming the key.
func ApplySettings(cfg *Config, kv map[string]string) error {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	topicDefaults := map[string]string{}
	for _, k := range keys {
		v := strings.TrimSpace(kv[k])
		if err := applySetting(cfg, k, v, topicDefaults); err != nil {
			return fmt.Errorf("setting %q: %w", k, err)
		}
	}
	if len(topicDefaults) > 0 {
		td, err := storage.ParseTopicConfig(cfg.TopicDefaults, topicDefaults)
		if err != nil {
			return err
		}
		cfg.TopicDefaults = td
		if cfg.TopicDefaultOverrides == nil {
			cfg.TopicDefaultOverrides = map[string]string{}
		}
		for tk, v := range topicDefaults {
			cfg.TopicDefaultOverrides[brokerTopicKeys[tk]] = v
		}
	}
	return nil
}

func applySetting(cfg *Config, k, v string, topicDefaults map[string]string) error {
	i32 := func(dst *int32, min int64) error {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < min {
			return fmt.Errorf("%q is not an integer >= %d", v, min)
		}
		*dst = int32(n)
		return nil
	}
	ms := func(dst *time.Duration, min int64) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return fmt.Errorf("%q is not a number of milliseconds >= %d", v, min)
		}
		*dst = time.Duration(n) * time.Millisecond
		return nil
	}
	intv := func(dst *int, min int64) error {
		var n int32
		if err := i32(&n, min); err != nil {
			return err
		}
		*dst = int(n)
		return nil
	}
	switch k {
	case "data.dir", "log.dirs", "log.dir":
		cfg.DataDir = v
	case "listen":
		cfg.Listen = v
	case "advertised.addr":
		cfg.AdvertisedAddr = v
	case "listeners", "advertised.listeners":
		addr := strings.TrimPrefix(v, "PLAINTEXT://")
		if strings.Contains(addr, "://") || strings.Contains(addr, ",") {
			return fmt.Errorf("%q: only one PLAINTEXT listener is supported", v)
		}
		if k == "listeners" {
			cfg.Listen = addr
		} else {
			cfg.AdvertisedAddr = addr
		}
	case "node.id", "broker.id":
		return i32(&cfg.NodeID, 0)
	case "broker.rack":
		cfg.Rack = v
	case "socket.request.max.bytes":
		return i32(&cfg.MaxRequestBytes, 1024)
	case "max.connections":
		return intv(&cfg.MaxConnections, 1)
	case "max.inflight.requests.per.connection":
		return intv(&cfg.MaxInflightPerConnection, 1)
	case "connections.max.idle.ms":
		return ms(&cfg.IdleTimeout, 1)
	case "max.incremental.fetch.session.cache.slots":
		return intv(&cfg.MaxFetchSessions, 0)
	case "fetch.max.wait.ms":
		return ms(&cfg.MaxFetchWait, 1)
	case "num.partitions":
		return i32(&cfg.DefaultPartitions, 1)
	case "max.partitions.per.topic":
		return i32(&cfg.MaxPartitionsPerTopic, 1)
	case "auto.create.topics.enable":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		cfg.AutoCreateTopics = b
	case "offsets.topic.num.partitions":
		return i32(&cfg.OffsetsTopicPartitions, 1)
	case "group.min.session.timeout.ms":
		return ms(&cfg.Groups.MinSessionTimeout, 1)
	case "group.max.session.timeout.ms":
		return ms(&cfg.Groups.MaxSessionTimeout, 1)
	case "group.initial.rebalance.delay.ms":
		return ms(&cfg.Groups.InitialRebalanceDelay, 0)
	case "group.max.size":
		return intv(&cfg.Groups.MaxGroupSize, 1)
	case "offsets.retention.minutes":
		var m int32
		if err := i32(&m, 1); err != nil {
			return err
		}
		cfg.Groups.OffsetsRetention = time.Duration(m) * time.Minute
	case "offsets.retention.check.interval.ms":
		return ms(&cfg.Groups.RetentionCheckInterval, 1)
	case "transaction.state.log.num.partitions":
		return i32(&cfg.TxnStateTopicPartitions, 1)
	case "transaction.max.timeout.ms":
		return ms(&cfg.Transactions.MaxTimeout, 1)
	case "transaction.abort.timed.out.transaction.cleanup.interval.ms":
		return ms(&cfg.Transactions.AbortCheckInterval, 1)
	case "transactional.id.expiration.ms":
		return ms(&cfg.Transactions.IDExpiration, 1)
	case "transaction.remove.expired.transaction.cleanup.interval.ms":
		return ms(&cfg.Transactions.ExpirationCheckInterval, 1)
	case "transaction.max.partitions":
		return intv(&cfg.Transactions.MaxPartitionsPerTxn, 1)
	case "transaction.max.transactional.ids":
		return intv(&cfg.Transactions.MaxTransactionalIDs, 1)
	case "offsets.topic.replication.factor", "default.replication.factor", "transaction.state.log.replication.factor", "transaction.state.log.min.isr":
		if v != "1" {
			return fmt.Errorf("%q: a single-node broker only supports 1", v)
		}
	default:
		if tk, ok := TopicKeyForBrokerSetting(k); ok {
			topicDefaults[tk] = v
			return nil
		}
		return ErrUnknownSetting
	}
	return nil
}
