// Package bench measures a Kafka-protocol cluster (Sluice or any other) and
// NATS JetStream with the same workloads, so that one run on one machine
// gives comparable numbers: records/s, MB/s and HDR latency percentiles.
//
// A workload (produce, consume, e2e) is written once against the Target
// interface; a target adapts one system (kgo for Kafka, nats.go for
// JetStream). Every payload starts with its send time (8 bytes, Unix ns), so
// produce latency (send → acknowledgement) and end-to-end latency (send →
// delivery to a consumer) are computed the same way for both systems.
package bench

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Workload names.
const (
	Produce = "produce" // send as fast as allowed; latency is send → ack
	Consume = "consume" // fill a topic, then read it from the start
	E2E     = "e2e"     // produce at a fixed rate while consuming; latency is send → receive
)

// Peaks an e2e run's rate can be a fraction of (Config.PeakFrom).
const (
	PeakE2E     = "e2e"     // producer and consumer running, both unpaced
	PeakProduce = "produce" // produce only
)

// minRecordSize is the payload header carrying the send time.
const minRecordSize = 8

// Config is one benchmark run. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	Workload    string        `json:"workload"`
	RecordSize  int           `json:"record_size"`
	Count       int64         `json:"count,omitempty"`    // records in total; 0: run for Duration
	Duration    time.Duration `json:"duration,omitempty"` // used when Count is 0
	Partitions  int           `json:"partitions"`
	Replication int           `json:"replication_factor"`
	Acks        string        `json:"acks"` // "all", "1" or "0"
	Producers   int           `json:"producers"`
	Compression string        `json:"compression"`
	Linger      time.Duration `json:"linger"`
	BatchBytes  int           `json:"batch_bytes"`
	MaxPending  int           `json:"max_pending"` // records buffered or unacknowledged per producer
	// MaxInFlight caps produce requests in flight per broker connection
	// (max.in.flight.requests.per.connection) for non-idempotent producers
	// (acks 0 and 1); 0 keeps the client's default (1 for franz-go).
	// Idempotent producers (acks=all) always allow 5.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// Rate is the total records/s for fixed-rate runs; 0 means as fast as
	// possible, except for e2e where 0 means RateFraction of a measured peak.
	Rate         int     `json:"rate,omitempty"`
	RateFraction float64 `json:"rate_fraction,omitempty"`
	// PeakFrom says which peak an e2e run without a rate takes its
	// fraction of: PeakE2E (default), the throughput of the whole
	// pipeline with the producer and the consumer both running, or
	// PeakProduce, produce-only throughput (which leaves the consumer no
	// share of a small machine's cores).
	PeakFrom string `json:"peak_from,omitempty"`
	// Warmup excludes records sent in the first Warmup of an e2e run from
	// the latency histogram (connections, metadata and fetch sessions settle).
	Warmup time.Duration `json:"warmup,omitempty"`
	// SeriesInterval, when set, also buckets latencies by send time into
	// windows this long (Result.Series), to show stalls over time.
	SeriesInterval time.Duration `json:"series_interval,omitempty"`
	// DrainTimeout bounds how long consumers wait for the last records.
	DrainTimeout time.Duration `json:"-"`
}

// DefaultConfig is the run the goals are stated for: 100-byte
// records, one producer, acks=1.
func DefaultConfig() Config {
	return Config{
		Workload:     Produce,
		RecordSize:   100,
		Count:        1_000_000,
		Partitions:   1,
		Replication:  1,
		Acks:         "1",
		Producers:    1,
		Compression:  "none",
		BatchBytes:   1 << 20,
		MaxPending:   100_000,
		RateFraction: 0.5,
		PeakFrom:     PeakE2E,
		Warmup:       time.Second,
		DrainTimeout: 30 * time.Second,
	}
}

// Validate reports the first invalid setting, naming its flag.
func (c Config) Validate() error {
	switch c.Workload {
	case Produce, Consume, E2E:
	default:
		return fmt.Errorf("workload %q: want produce, consume or e2e", c.Workload)
	}
	var errs []string
	if c.RecordSize < minRecordSize {
		errs = append(errs, fmt.Sprintf("--record-size %d: must be at least %d (the payload carries its send time)", c.RecordSize, minRecordSize))
	}
	if c.Count < 0 {
		errs = append(errs, fmt.Sprintf("--count %d: must not be negative", c.Count))
	}
	if c.Count == 0 && c.Duration <= 0 {
		errs = append(errs, "give --count or --duration")
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Sprintf("--partitions %d: must be at least 1", c.Partitions))
	}
	if c.Producers < 1 {
		errs = append(errs, fmt.Sprintf("--producers %d: must be at least 1", c.Producers))
	}
	switch strings.ToLower(c.Acks) {
	case "all", "-1", "1", "0":
	default:
		errs = append(errs, fmt.Sprintf("--acks %q: want all, 1 or 0", c.Acks))
	}
	switch strings.ToLower(c.Compression) {
	case "", "none", "gzip", "snappy", "lz4", "zstd":
	default:
		errs = append(errs, fmt.Sprintf("--compression %q: want none, gzip, snappy, lz4 or zstd", c.Compression))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Sprintf("--rate %d: must not be negative", c.Rate))
	}
	if c.Workload == E2E && c.Rate == 0 && (c.RateFraction <= 0 || c.RateFraction > 1) {
		errs = append(errs, fmt.Sprintf("--rate-fraction %g: must be in (0, 1]", c.RateFraction))
	}
	switch c.PeakFrom {
	case "", PeakE2E, PeakProduce:
	default:
		errs = append(errs, fmt.Sprintf("--peak-from %q: want e2e or produce", c.PeakFrom))
	}
	if c.BatchBytes < 0 || c.MaxPending < 0 || c.MaxInFlight < 0 || c.Linger < 0 || c.Warmup < 0 || c.SeriesInterval < 0 {
		errs = append(errs, "--batch-bytes, --max-pending, --max-inflight, --linger, --warmup and --latency-interval must not be negative")
	}
	if c.Workload == E2E && strings.ToLower(c.Acks) == "0" {
		errs = append(errs, "--acks 0 with e2e: lost records could not be told from late ones; use 1 or all")
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// perProducer splits a total (count or rate) over n producers; the first
// ones take the remainder.
func perProducer(total int64, n, i int) int64 {
	q, r := total/int64(n), total%int64(n)
	if int64(i) < r {
		return q + 1
	}
	return q
}
