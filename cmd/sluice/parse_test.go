package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseTimestamp(t *testing.T) {
	for in, want := range map[string]int64{
		"0":                           0,
		"1700000000123":               1700000000123,
		"2024-05-01T00:00:00Z":        time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		"2024-05-01T02:00:00.5+02:00": time.Date(2024, 5, 1, 0, 0, 0, 5e8, time.UTC).UnixMilli(),
	} {
		got, err := parseTimestamp(in)
		if err != nil || got != want {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "-5", "2024-05-01"} {
		if _, err := parseTimestamp(bad); err == nil {
			t.Errorf("parseTimestamp(%q) accepted", bad)
		}
	}
}

func TestParseConfigs(t *testing.T) {
	m, err := parseConfigs([]string{"retention.ms=1000", "cleanup.policy=compact,delete", "empty="})
	if err != nil || *m["retention.ms"] != "1000" || *m["cleanup.policy"] != "compact,delete" || *m["empty"] != "" {
		t.Fatalf("parseConfigs: %v, %v", m, err)
	}
	for _, bad := range [][]string{{"novalue"}, {"=x"}, {"a=1", "a=2"}} {
		if _, err := parseConfigs(bad); err == nil {
			t.Errorf("parseConfigs(%q) accepted", bad)
		}
	}
}

func TestParseTopicPartitions(t *testing.T) {
	topic, ps, err := parseTopicPartitions("orders:0,2, 5")
	if err != nil || topic != "orders" || len(ps) != 3 || ps[2] != 5 {
		t.Fatalf("got %s %v %v", topic, ps, err)
	}
	if topic, ps, err := parseTopicPartitions("orders"); err != nil || topic != "orders" || ps != nil {
		t.Fatalf("plain topic: %s %v %v", topic, ps, err)
	}
	for _, bad := range []string{":1", "orders:", "orders:x", "orders:-1"} {
		if _, _, err := parseTopicPartitions(bad); err == nil {
			t.Errorf("parseTopicPartitions(%q) accepted", bad)
		}
	}
}

func TestJSONRecordKeepsBytes(t *testing.T) {
	r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Timestamp: time.UnixMilli(1234),
		Key: nil, Value: []byte{0xff, 0x00, 'a'},
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	j := toJSONRecord(r)
	if j.Key != nil || j.KeyBase64 != "" {
		t.Errorf("nil key rendered as %v %q, want null", j.Key, j.KeyBase64)
	}
	if j.Value != nil || j.ValueBase64 != "/wBh" {
		t.Errorf("binary value rendered as %v %q, want value_base64 /wBh", j.Value, j.ValueBase64)
	}
	if j.Timestamp != 1234 || j.Offset != 7 || *j.Headers[0].Value != "v" {
		t.Errorf("metadata: %+v", j)
	}
	empty := toJSONRecord(&kgo.Record{Value: []byte{}})
	if empty.Value == nil || *empty.Value != "" {
		t.Errorf("empty value rendered as %v, want \"\"", empty.Value)
	}
}

func TestRenderProgress(t *testing.T) {
	s := renderProgress(512, 1024, 10, 2*time.Second)
	for _, want := range []string{"[===============               ]", " 50%", "512 B/1.0 KiB", "10 records", "5 records/s"} {
		if !strings.Contains(s, want) {
			t.Errorf("renderProgress = %q, lacks %q", s, want)
		}
	}
	if s := renderProgress(3<<20, -1, 0, 0); !strings.Contains(s, "3.0 MiB read") {
		t.Errorf("unknown size: %q", s)
	}
	if s := renderProgress(5000, 1000, 0, time.Second); !strings.Contains(s, "100%") {
		t.Errorf("overshoot not clamped: %q", s)
	}
}

func TestClientOptions(t *testing.T) {
	o := &clientOptions{brokers: " 10.0.0.1:9092, ,10.0.0.2:9092 "}
	seeds, err := o.seeds()
	if err != nil || len(seeds) != 2 || seeds[0] != "10.0.0.1:9092" || seeds[1] != "10.0.0.2:9092" {
		t.Fatalf("seeds = %v, %v", seeds, err)
	}
	if _, err := (&clientOptions{brokers: " , "}).seeds(); err == nil || !strings.Contains(err.Error(), "SLUICE_BROKERS") {
		t.Fatalf("empty broker list: %v", err)
	}
	for _, tc := range []struct {
		o    clientOptions
		want string
	}{
		{clientOptions{brokers: "b:1", saslMechanism: "GSSAPI"}, `--sasl-mechanism "GSSAPI"`},
		{clientOptions{brokers: "b:1", tlsCert: "c.pem"}, "--tls-cert and --tls-key must be given together"},
		{clientOptions{brokers: "b:1", tlsCA: "/nonexistent/ca.pem"}, "--tls-ca"},
	} {
		if _, err := tc.o.kgoOpts(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
	for _, ok := range []clientOptions{
		{brokers: "b:1", tls: true},
		{brokers: "b:1", saslMechanism: "scram-sha-512", saslUser: "u", saslPassword: "p"},
		{brokers: "b:1", saslMechanism: "PLAIN", saslUser: "u"},
	} {
		if _, err := ok.kgoOpts(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}
