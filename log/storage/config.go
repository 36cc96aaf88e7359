package storage

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TimestampType says where a batch's timestamps come from: the producer
// (CreateTime) or the broker at append (LogAppendTime).
type TimestampType int8

const (
	CreateTime    TimestampType = 0
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Forever is the duration used for "never" in millisecond settings whose
// Kafka value is Long.MAX_VALUE (flush.ms, message.timestamp.*.max.ms).
const Forever = time.Duration(math.MaxInt64)

// Config is one topic's storage configuration, with Kafka's topic-config
// semantics. It also carries the topic configs the broker enforces
// (min.insync.replicas, compression.type, ...) so that one value describes a
// topic and round-trips through ParseTopicConfig/ToMap.
type Config struct {
	SegmentBytes int64 // segment.bytes: roll when the active segment would exceed this
	//lint:ignore ST1011 named for Kafka's segment.ms; the broker depends on this name
	SegmentMs          time.Duration // segment.ms: roll when the active segment is older, by record timestamps (segtime.go)
	IndexIntervalBytes int           // index.interval.bytes: bytes between offset/time index entries
	SegmentIndexBytes  int           // segment.index.bytes: max index file size; roll when full

	//lint:ignore ST1011 named for Kafka's retention.ms; the broker depends on this name
	RetentionMs    time.Duration // retention.ms; <0 = infinite
	RetentionBytes int64         // retention.bytes; <0 = infinite

	CleanupDelete     bool          // cleanup.policy contains "delete"
	CleanupCompact    bool          // cleanup.policy contains "compact"
	DeleteRetention   time.Duration // delete.retention.ms: how long tombstones survive compaction
	MinCompactionLag  time.Duration // min.compaction.lag.ms: records younger than this are not compacted
	MaxCompactionLag  time.Duration // max.compaction.lag.ms
	MinCleanableRatio float64       // min.cleanable.dirty.ratio

	FlushMessages int64         // flush.messages: fsync after this many records; 1 = every batch
	FlushInterval time.Duration // flush.ms: fsync when the oldest unflushed write is this old; Forever = never

	MaxMessageBytes    int32         // max.message.bytes: largest batch accepted
	TimestampType      TimestampType // message.timestamp.type
	TimestampBeforeMax time.Duration // message.timestamp.before.max.ms
	TimestampAfterMax  time.Duration // message.timestamp.after.max.ms

	FileDeleteDelay time.Duration // file.delete.delay.ms (deletion is immediate here; kept for clients)
	Preallocate     bool          // preallocate (accepted, not used)

	// Enforced by the broker, not by storage.
	MinInsyncReplicas     int    // min.insync.replicas
	CompressionType       string // compression.type
	UncleanLeaderElection bool   // unclean.leader.election.enable
}

// DefaultConfig returns Kafka's defaults for topic configs. Note that, as in
// Kafka, the default flush policy leaves fsync to the OS (durability comes
// from replication); set FlushMessages=1 for fsync on every batch.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:          1 << 30,
		SegmentMs:             7 * 24 * time.Hour,
		IndexIntervalBytes:    4096,
		SegmentIndexBytes:     10 << 20,
		RetentionMs:           7 * 24 * time.Hour,
		RetentionBytes:        -1,
		CleanupDelete:         true,
		DeleteRetention:       24 * time.Hour,
		MinCompactionLag:      0,
		MaxCompactionLag:      Forever,
		MinCleanableRatio:     0.5,
		FlushMessages:         math.MaxInt64,
		FlushInterval:         Forever,
		MaxMessageBytes:       1048588,
		TimestampType:         CreateTime,
		TimestampBeforeMax:    Forever,
		TimestampAfterMax:     Forever,
		FileDeleteDelay:       time.Minute,
		MinInsyncReplicas:     1,
		CompressionType:       "producer",
		UncleanLeaderElection: false,
	}
}

// ConfigEntry describes one topic-config key, for DescribeConfigs and for
// documentation.
type ConfigEntry struct {
	Name    string
	Default string
	Doc     string
	Type    string // Kafka config type: "long", "int", "string", "list", "boolean", "double"
	get     func(Config) string
	set     func(*Config, string) error
}

func msString(d time.Duration) string {
	if d == Forever {
		return strconv.FormatInt(math.MaxInt64, 10)
	}
	if d < 0 {
		return "-1"
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// parseMs parses a Kafka millisecond value; values too large for a
// time.Duration mean Forever. min is the smallest value accepted.
func parseMs(v string, min int64) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %q", v)
	}
	if n < min {
		return 0, fmt.Errorf("%d is below the minimum %d", n, min)
	}
	if n < 0 {
		return -1, nil
	}
	if n > math.MaxInt64/int64(time.Millisecond) {
		return Forever, nil
	}
	return time.Duration(n) * time.Millisecond, nil
}

func parseInt(v string, min, max int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %q", v)
	}
	if n < min || n > max {
		return 0, fmt.Errorf("%d is outside [%d, %d]", n, min, max)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

func msEntry(name string, def time.Duration, min int64, doc string, field func(*Config) *time.Duration) ConfigEntry {
	return ConfigEntry{
		Name: name, Default: msString(def), Doc: doc, Type: "long",
		get: func(c Config) string { return msString(*field(&c)) },
		set: func(c *Config, v string) error {
			d, err := parseMs(v, min)
			if err != nil {
				return err
			}
			*field(c) = d
			return nil
		},
	}
}

var configEntries = func() []ConfigEntry {
	d := DefaultConfig()
	return []ConfigEntry{
		{
			Name: "cleanup.policy", Default: "delete", Type: "list",
			Doc: `"delete" removes old segments by retention.ms/retention.bytes; "compact" keeps the newest record per key; both may be given, comma separated.`,
			get: func(c Config) string {
				var p []string
				if c.CleanupCompact {
					p = append(p, "compact")
				}
				if c.CleanupDelete {
					p = append(p, "delete")
				}
				return strings.Join(p, ",")
			},
			set: func(c *Config, v string) error {
				c.CleanupDelete, c.CleanupCompact = false, false
				for _, p := range strings.Split(v, ",") {
					switch strings.TrimSpace(strings.ToLower(p)) {
					case "delete":
						c.CleanupDelete = true
					case "compact":
						c.CleanupCompact = true
					case "":
					default:
						return fmt.Errorf("unknown policy %q (want delete, compact or both)", p)
					}
				}
				return nil
			},
		},
		{
			Name: "compression.type", Default: d.CompressionType, Type: "string",
			Doc: "Compression the broker keeps batches in; \"producer\" keeps what the producer sent (the only mode this broker implements for storage).",
			get: func(c Config) string { return c.CompressionType },
			set: func(c *Config, v string) error {
				switch v {
				case "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd":
					c.CompressionType = v
					return nil
				}
				return fmt.Errorf("unknown compression %q (want producer, uncompressed, gzip, snappy, lz4 or zstd)", v)
			},
		},
		msEntry("delete.retention.ms", d.DeleteRetention, 0,
			"How long tombstones (null values) survive in a compacted topic, so consumers reading from the start see the delete.",
			func(c *Config) *time.Duration { return &c.DeleteRetention }),
		msEntry("file.delete.delay.ms", d.FileDeleteDelay, 0,
			"Accepted for compatibility; segments are deleted as soon as they leave the log.",
			func(c *Config) *time.Duration { return &c.FileDeleteDelay }),
		{
			Name: "flush.messages", Default: strconv.FormatInt(d.FlushMessages, 10), Type: "long",
			Doc: "Fsync after this many records have been appended; 1 fsyncs every batch before acknowledging it.",
			get: func(c Config) string { return strconv.FormatInt(c.FlushMessages, 10) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 1, math.MaxInt64)
				c.FlushMessages = n
				return err
			},
		},
		msEntry("flush.ms", d.FlushInterval, 0,
			"Fsync when the oldest unflushed append is this old (checked by background maintenance).",
			func(c *Config) *time.Duration { return &c.FlushInterval }),
		{
			Name: "index.interval.bytes", Default: strconv.Itoa(d.IndexIntervalBytes), Type: "int",
			Doc: "Bytes of log between two entries of the sparse offset and time indexes.",
			get: func(c Config) string { return strconv.Itoa(c.IndexIntervalBytes) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 0, math.MaxInt32)
				c.IndexIntervalBytes = int(n)
				return err
			},
		},
		msEntry("max.compaction.lag.ms", d.MaxCompactionLag, 1,
			"Longest a record may stay uncompacted.",
			func(c *Config) *time.Duration { return &c.MaxCompactionLag }),
		{
			Name: "max.message.bytes", Default: strconv.Itoa(int(d.MaxMessageBytes)), Type: "int",
			Doc: "Largest record batch the topic accepts (after compression).",
			get: func(c Config) string { return strconv.Itoa(int(c.MaxMessageBytes)) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 0, math.MaxInt32)
				c.MaxMessageBytes = int32(n)
				return err
			},
		},
		msEntry("message.timestamp.after.max.ms", d.TimestampAfterMax, 0,
			"For CreateTime topics: reject batches whose timestamp is more than this ahead of the broker's clock.",
			func(c *Config) *time.Duration { return &c.TimestampAfterMax }),
		msEntry("message.timestamp.before.max.ms", d.TimestampBeforeMax, 0,
			"For CreateTime topics: reject batches whose timestamp is more than this behind the broker's clock.",
			func(c *Config) *time.Duration { return &c.TimestampBeforeMax }),
		{
			Name: "message.timestamp.type", Default: d.TimestampType.String(), Type: "string",
			Doc: "CreateTime keeps the producer's timestamps; LogAppendTime overwrites them with the broker's clock at append.",
			get: func(c Config) string { return c.TimestampType.String() },
			set: func(c *Config, v string) error {
				switch v {
				case "CreateTime":
					c.TimestampType = CreateTime
				case "LogAppendTime":
					c.TimestampType = LogAppendTime
				default:
					return fmt.Errorf("unknown timestamp type %q (want CreateTime or LogAppendTime)", v)
				}
				return nil
			},
		},
		{
			Name: "min.cleanable.dirty.ratio", Default: "0.5", Type: "double",
			Doc: "Compact when at least this fraction of the log has not been compacted yet.",
			get: func(c Config) string { return strconv.FormatFloat(c.MinCleanableRatio, 'g', -1, 64) },
			set: func(c *Config, v string) error {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil || f < 0 || f > 1 || math.IsNaN(f) {
					return fmt.Errorf("want a number in [0, 1], got %q", v)
				}
				c.MinCleanableRatio = f
				return nil
			},
		},
		msEntry("min.compaction.lag.ms", d.MinCompactionLag, 0,
			"Records younger than this are never compacted away.",
			func(c *Config) *time.Duration { return &c.MinCompactionLag }),
		{
			Name: "min.insync.replicas", Default: "1", Type: "int",
			Doc: "With acks=all, how many in-sync replicas must have a batch before it is acknowledged.",
			get: func(c Config) string { return strconv.Itoa(c.MinInsyncReplicas) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 1, math.MaxInt32)
				c.MinInsyncReplicas = int(n)
				return err
			},
		},
		{
			Name: "preallocate", Default: "false", Type: "boolean",
			Doc: "Accepted for compatibility; segment files are not preallocated.",
			get: func(c Config) string { return strconv.FormatBool(c.Preallocate) },
			set: func(c *Config, v string) (err error) { c.Preallocate, err = parseBool(v); return err },
		},
		{
			Name: "retention.bytes", Default: "-1", Type: "long",
			Doc: "Delete the oldest closed segments while the partition is larger than this; -1 = no size limit.",
			get: func(c Config) string {
				if c.RetentionBytes < 0 {
					return "-1"
				}
				return strconv.FormatInt(c.RetentionBytes, 10)
			},
			set: func(c *Config, v string) error {
				n, err := parseInt(v, -1, math.MaxInt64)
				c.RetentionBytes = n
				return err
			},
		},
		msEntry("retention.ms", d.RetentionMs, -1,
			"Delete closed segments whose newest record is older than this (by record timestamps; a segment without timestamps by its file's modification time); -1 = keep forever.",
			func(c *Config) *time.Duration { return &c.RetentionMs }),
		{
			Name: "segment.bytes", Default: strconv.FormatInt(d.SegmentBytes, 10), Type: "int",
			Doc: "Roll to a new segment file when the active one would grow past this size.",
			get: func(c Config) string { return strconv.FormatInt(c.SegmentBytes, 10) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 14, math.MaxInt32)
				c.SegmentBytes = n
				return err
			},
		},
		{
			Name: "segment.index.bytes", Default: strconv.Itoa(d.SegmentIndexBytes), Type: "int",
			Doc: "Largest offset index of one segment; the segment rolls when its index is full.",
			get: func(c Config) string { return strconv.Itoa(c.SegmentIndexBytes) },
			set: func(c *Config, v string) error {
				n, err := parseInt(v, 4, math.MaxInt32)
				c.SegmentIndexBytes = int(n)
				return err
			},
		},
		msEntry("segment.ms", d.SegmentMs, 1,
			"Roll to a new segment once appended records' timestamps are this far past the active segment's first timestamp (as Kafka), or this much broker time has passed since its first append, so retention and compaction can act on it. Unusable timestamps (none, or more than segment.ms ahead of the broker) fall back to the broker's clock.",
			func(c *Config) *time.Duration { return &c.SegmentMs }),
		{
			Name: "unclean.leader.election.enable", Default: "false", Type: "boolean",
			Doc: "Allow an out-of-sync replica to become leader (losing data) when no in-sync one is left.",
			get: func(c Config) string { return strconv.FormatBool(c.UncleanLeaderElection) },
			set: func(c *Config, v string) (err error) { c.UncleanLeaderElection, err = parseBool(v); return err },
		},
	}
}()

// ignoredKeys are Kafka topic configs accepted and ignored: they concern
// features this broker does not have (tiered storage, down-conversion,
// replication throttling).
var ignoredKeys = map[string]bool{
	"message.downconversion.enable":           true,
	"message.format.version":                  true,
	"message.timestamp.difference.max.ms":     true,
	"segment.jitter.ms":                       true,
	"leader.replication.throttled.replicas":   true,
	"follower.replication.throttled.replicas": true,
	"remote.storage.enable":                   true,
	"local.retention.ms":                      true,
	"local.retention.bytes":                   true,
}

// ConfigEntries lists every topic-config key this engine understands, sorted
// by name, with its default and documentation.
func ConfigEntries() []ConfigEntry {
	out := make([]ConfigEntry, len(configEntries))
	copy(out, configEntries)
	return out
}

func entryByName(name string) *ConfigEntry {
	i := sort.Search(len(configEntries), func(i int) bool { return configEntries[i].Name >= name })
	if i < len(configEntries) && configEntries[i].Name == name {
		return &configEntries[i]
	}
	return nil
}

// ParseTopicConfig applies Kafka topic-config keys to base. An unknown key
// or a bad value is an error naming the key; base is not modified.
func ParseTopicConfig(base Config, kv map[string]string) (Config, error) {
	c := base
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic: the first bad key in name order is reported
	for _, k := range keys {
		e := entryByName(k)
		if e == nil {
			if ignoredKeys[k] {
				continue
			}
			return base, fmt.Errorf("topic config %q: %w", k, ErrUnknownConfig)
		}
		if err := e.set(&c, kv[k]); err != nil {
			return base, fmt.Errorf("topic config %q: %w: %w", k, ErrInvalidConfig, err)
		}
	}
	if !c.CleanupDelete && !c.CleanupCompact {
		return base, fmt.Errorf("topic config %q: %w: empty policy", "cleanup.policy", ErrInvalidConfig)
	}
	return c, nil
}

// ToMap renders every key of ConfigEntries with c's value, in Kafka's
// string format; ParseTopicConfig(DefaultConfig(), c.ToMap()) == c.
func (c Config) ToMap() map[string]string {
	m := make(map[string]string, len(configEntries))
	for _, e := range configEntries {
		m[e.Name] = e.get(c)
	}
	return m
}
