package broker

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/log/storage"
	"github.com/sluicehq/sluice/log/wire"
)

// brokerTopicKeys maps each topic config to the broker setting that gives
// its default, as Kafka names them.
var brokerTopicKeys = map[string]string{
	"cleanup.policy":                  "log.cleanup.policy",
	"compression.type":                "compression.type",
	"delete.retention.ms":             "log.cleaner.delete.retention.ms",
	"file.delete.delay.ms":            "log.segment.delete.delay.ms",
	"flush.messages":                  "log.flush.interval.messages",
	"flush.ms":                        "log.flush.interval.ms",
	"index.interval.bytes":            "log.index.interval.bytes",
	"max.compaction.lag.ms":           "log.cleaner.max.compaction.lag.ms",
	"max.message.bytes":               "message.max.bytes",
	"message.timestamp.after.max.ms":  "log.message.timestamp.after.max.ms",
	"message.timestamp.before.max.ms": "log.message.timestamp.before.max.ms",
	"message.timestamp.type":          "log.message.timestamp.type",
	"min.cleanable.dirty.ratio":       "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":           "log.cleaner.min.compaction.lag.ms",
	"min.insync.replicas":             "min.insync.replicas",
	"preallocate":                     "log.preallocate",
	"retention.bytes":                 "log.retention.bytes",
	"retention.ms":                    "log.retention.ms",
	"segment.bytes":                   "log.segment.bytes",
	"segment.index.bytes":             "log.index.size.max.bytes",
	"segment.ms":                      "log.roll.ms",
	"unclean.leader.election.enable":  "unclean.leader.election.enable",
}

// TopicKeyForBrokerSetting maps a broker setting (log.retention.ms) to the
// topic config whose default it sets (retention.ms).
func TopicKeyForBrokerSetting(brokerKey string) (string, bool) {
	for tk, bk := range brokerTopicKeys {
		if bk == brokerKey {
			return tk, true
		}
	}
	return "", false
}

func configType(t string) kmsg.ConfigType {
	switch t {
	case "boolean":
		return kmsg.ConfigTypeBoolean
	case "string":
		return kmsg.ConfigTypeString
	case "int":
		return kmsg.ConfigTypeInt
	case "long":
		return kmsg.ConfigTypeLong
	case "double":
		return kmsg.ConfigTypeDouble
	case "list":
		return kmsg.ConfigTypeList
	}
	return kmsg.ConfigTypeUnknown
}

// topicConfigEntries lists a topic's configs with values and sources.
func (b *Broker) topicConfigEntries(t *topic, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	b.topics.mu.RLock()
	values := t.cfg.ToMap()
	overrides := maps.Clone(t.overrides)
	b.topics.mu.RUnlock()
	defaults := b.cfg.TopicDefaults.ToMap()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for _, e := range storage.ConfigEntries() {
		if len(names) > 0 && !containsString(names, e.Name) {
			continue
		}
		rc := kmsg.NewDescribeConfigsResponseResourceConfig()
		rc.Name = e.Name
		rc.Value = strPtr(values[e.Name])
		rc.ConfigType = configType(e.Type)
		if docs {
			rc.Documentation = strPtr(e.Doc)
		}
		bk := brokerTopicKeys[e.Name]
		_, static := b.cfg.TopicDefaultOverrides[bk]
		switch {
		case overrides[e.Name] != "":
			rc.Source = kmsg.ConfigSourceDynamicTopicConfig
		case static:
			rc.Source = kmsg.ConfigSourceStaticBrokerConfig
		default:
			rc.Source = kmsg.ConfigSourceDefaultConfig
			rc.IsDefault = true
		}
		if synonyms {
			add := func(name, value string, src kmsg.ConfigSource) {
				s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				s.Name, s.Value, s.Source = name, strPtr(value), src
				rc.ConfigSynonyms = append(rc.ConfigSynonyms, s)
			}
			if v, ok := overrides[e.Name]; ok {
				add(e.Name, v, kmsg.ConfigSourceDynamicTopicConfig)
			}
			if static && bk != "" {
				add(bk, defaults[e.Name], kmsg.ConfigSourceStaticBrokerConfig)
			}
			if bk != "" {
				add(bk, e.Default, kmsg.ConfigSourceDefaultConfig)
			}
		}
		out = append(out, rc)
	}
	return out
}

// createdConfigs is CreateTopics v5+'s echo of the new topic's configs.
func (b *Broker) createdConfigs(t *topic) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range b.topicConfigEntries(t, nil, false, false) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.Source, c.ReadOnly = e.Name, e.Value, int8(e.Source), e.ReadOnly
		out = append(out, c)
	}
	return out
}

// brokerConfigs are the broker settings DescribeConfigs reports (read-only:
// they come from flags and the config file).
func (b *Broker) brokerConfigs() map[string]string {
	cfg := b.cfg
	m := map[string]string{
		"broker.id":                                 strconv.Itoa(int(cfg.NodeID)),
		"node.id":                                   strconv.Itoa(int(cfg.NodeID)),
		"log.dirs":                                  cfg.DataDir,
		"listeners":                                 "PLAINTEXT://" + cfg.Listen,
		"advertised.listeners":                      fmt.Sprintf("PLAINTEXT://%s:%d", b.advertise.host, b.advertise.port),
		"num.partitions":                            strconv.Itoa(int(cfg.DefaultPartitions)),
		"auto.create.topics.enable":                 strconv.FormatBool(cfg.AutoCreateTopics),
		"socket.request.max.bytes":                  strconv.Itoa(int(cfg.MaxRequestBytes)),
		"max.connections":                           strconv.Itoa(cfg.MaxConnections),
		"connections.max.idle.ms":                   strconv.FormatInt(cfg.IdleTimeout.Milliseconds(), 10),
		"offsets.topic.num.partitions":              strconv.Itoa(int(cfg.OffsetsTopicPartitions)),
		"offsets.topic.replication.factor":          "1",
		"default.replication.factor":                "1",
		"group.min.session.timeout.ms":              strconv.FormatInt(cfg.Groups.MinSessionTimeout.Milliseconds(), 10),
		"group.max.session.timeout.ms":              strconv.FormatInt(cfg.Groups.MaxSessionTimeout.Milliseconds(), 10),
		"group.initial.rebalance.delay.ms":          strconv.FormatInt(cfg.Groups.InitialRebalanceDelay.Milliseconds(), 10),
		"offsets.retention.minutes":                 strconv.FormatInt(int64(cfg.Groups.OffsetsRetention/time.Minute), 10),
		"max.incremental.fetch.session.cache.slots": strconv.Itoa(cfg.MaxFetchSessions),
		"transaction.state.log.num.partitions":      strconv.Itoa(int(cfg.TxnStateTopicPartitions)),
		"transaction.state.log.replication.factor":  "1",
		"transaction.state.log.min.isr":             "1",
		"transaction.max.timeout.ms":                strconv.FormatInt(cfg.Transactions.MaxTimeout.Milliseconds(), 10),
		"transactional.id.expiration.ms":            strconv.FormatInt(cfg.Transactions.IDExpiration.Milliseconds(), 10),
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": strconv.FormatInt(cfg.Transactions.AbortCheckInterval.Milliseconds(), 10),
		"transaction.remove.expired.transaction.cleanup.interval.ms":  strconv.FormatInt(cfg.Transactions.ExpirationCheckInterval.Milliseconds(), 10),
	}
	if cfg.Rack != "" {
		m["broker.rack"] = cfg.Rack
	}
	for tk, v := range cfg.TopicDefaults.ToMap() {
		if bk := brokerTopicKeys[tk]; bk != "" {
			m[bk] = v
		}
	}
	return m
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (c *conn) handleDescribeConfigs(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.DescribeConfigsRequest)
	b := c.b
	resp := kmsg.NewPtrDescribeConfigsResponse()
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		switch res.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.topics.get(res.ResourceName)
			if t == nil {
				rr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				rr.ErrorMessage = strPtr(fmt.Sprintf("topic %q does not exist", res.ResourceName))
				break
			}
			rr.Configs = b.topicConfigEntries(t, res.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			if res.ResourceName != "" && res.ResourceName != strconv.Itoa(int(b.cfg.NodeID)) {
				rr.ErrorCode = kerr.InvalidRequest.Code
				rr.ErrorMessage = strPtr(fmt.Sprintf("unknown broker %q", res.ResourceName))
				break
			}
			m := b.brokerConfigs()
			keys := make([]string, 0, len(m))
			for k := range m {
				if len(res.ConfigNames) == 0 || containsString(res.ConfigNames, k) {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				rc := kmsg.NewDescribeConfigsResponseResourceConfig()
				rc.Name, rc.Value = k, strPtr(m[k])
				rc.ReadOnly = true
				rc.Source = kmsg.ConfigSourceStaticBrokerConfig
				rr.Configs = append(rr.Configs, rc)
			}
		default:
			rr.ErrorCode = kerr.InvalidRequest.Code
			rr.ErrorMessage = strPtr(fmt.Sprintf("config resource type %v is not supported", res.ResourceType))
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// alterTarget resolves a config resource to a topic, or an error code.
func (b *Broker) alterTarget(rt kmsg.ConfigResourceType, name string) (*topic, int16, *string) {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		t := b.topics.get(name)
		if t == nil {
			return nil, kerr.UnknownTopicOrPartition.Code, strPtr(fmt.Sprintf("topic %q does not exist", name))
		}
		return t, 0, nil
	case kmsg.ConfigResourceTypeBroker:
		return nil, kerr.InvalidRequest.Code, strPtr("broker configs are static: set them in the sluice serve config file or flags")
	default:
		return nil, kerr.InvalidRequest.Code, strPtr(fmt.Sprintf("config resource type %v is not supported", rt))
	}
}

// AlterConfigs replaces a topic's whole set of explicit configs.
func (c *conn) handleAlterConfigs(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.AlterConfigsRequest)
	b := c.b
	resp := kmsg.NewPtrAlterConfigsResponse()
	for _, res := range req.Resources {
		rr := kmsg.NewAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		t, code, msg := b.alterTarget(res.ResourceType, res.ResourceName)
		if t != nil {
			next := map[string]string{}
			for _, cfg := range res.Configs {
				if cfg.Value != nil {
					next[cfg.Name] = *cfg.Value
				}
			}
			if err := b.setTopicConfig(t, next, req.ValidateOnly); err != nil {
				code, msg = errorCode(err), errMessage(err)
			}
		}
		rr.ErrorCode, rr.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// IncrementalAlterConfigs applies SET/DELETE/APPEND/SUBTRACT to a topic's
// explicit configs (KIP-339).
func (c *conn) handleIncrementalAlterConfigs(h wire.Header, r kmsg.Request) (kmsg.Response, error) {
	req := r.(*kmsg.IncrementalAlterConfigsRequest)
	b := c.b
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	for _, res := range req.Resources {
		rr := kmsg.NewIncrementalAlterConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		t, code, msg := b.alterTarget(res.ResourceType, res.ResourceName)
		if t != nil {
			b.topics.mu.RLock()
			next := maps.Clone(t.overrides)
			current := t.cfg.ToMap()
			b.topics.mu.RUnlock()
			if next == nil {
				next = map[string]string{}
			}
			err := applyIncremental(next, current, res.Configs)
			if err == nil {
				err = b.setTopicConfig(t, next, req.ValidateOnly)
			}
			if err != nil {
				code, msg = errorCode(err), errMessage(err)
			}
		}
		rr.ErrorCode, rr.ErrorMessage = code, msg
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

func applyIncremental(next, current map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	for _, op := range ops {
		val := ""
		if op.Value != nil {
			val = *op.Value
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			next[op.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			base, ok := next[op.Name]
			if !ok {
				base = current[op.Name]
			}
			var items []string
			for _, s := range strings.Split(base, ",") {
				if s = strings.TrimSpace(s); s != "" {
					items = append(items, s)
				}
			}
			for _, v := range strings.Split(val, ",") {
				v = strings.TrimSpace(v)
				if v == "" {
					continue
				}
				if op.Op == kmsg.IncrementalAlterConfigOpAppend {
					if !containsString(items, v) {
						items = append(items, v)
					}
				} else {
					kept := items[:0]
					for _, it := range items {
						if it != v {
							kept = append(kept, it)
						}
					}
					items = kept
				}
			}
			next[op.Name] = strings.Join(items, ",")
		default:
			return fmt.Errorf("%w: unknown config operation %d for %q", errInvalidRequest, op.Op, op.Name)
		}
	}
	return nil
}
