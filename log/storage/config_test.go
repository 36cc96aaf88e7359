package storage

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTopicConfig(t *testing.T) {
	def := DefaultConfig()
	got, err := ParseTopicConfig(def, def.ToMap())
	if err != nil || !reflect.DeepEqual(got, def) {
		t.Fatalf("defaults do not round-trip: %v\n%+v\n%+v", err, got, def)
	}
	c, err := ParseTopicConfig(def, map[string]string{
		"cleanup.policy": "compact,delete", "retention.ms": "-1", "flush.messages": "1",
		"flush.ms": "9223372036854775807", "segment.ms": "3600000", "message.timestamp.type": "LogAppendTime",
		"retention.bytes": "1048576", "max.message.bytes": "2000000", "min.insync.replicas": "2",
		"message.downconversion.enable": "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !c.CleanupCompact || !c.CleanupDelete || c.RetentionMs >= 0 || c.FlushMessages != 1 || c.FlushInterval != Forever ||
		c.SegmentMs != time.Hour || c.TimestampType != LogAppendTime || c.RetentionBytes != 1<<20 || c.MinInsyncReplicas != 2 {
		t.Fatalf("parsed %+v", c)
	}
	back, err := ParseTopicConfig(def, c.ToMap())
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	for k, v := range map[string]string{
		"retention.ms": "abc", "segment.bytes": "10", "cleanup.policy": "sometimes", "flush.messages": "0",
		"message.timestamp.type": "Now", "min.cleanable.dirty.ratio": "2", "retention.bytes": "-2",
	} {
		_, err := ParseTopicConfig(def, map[string]string{k: v})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if _, err := ParseTopicConfig(def, map[string]string{"retention.mss": "1"}); !errors.Is(err, ErrUnknownConfig) {
		t.Errorf("unknown key: %v", err)
	}
	for _, e := range ConfigEntries() {
		if e.Doc == "" || e.Type == "" {
			t.Errorf("%s lacks doc or type", e.Name)
		}
	}
}
