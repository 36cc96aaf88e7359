package storage

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series (sluice_storage_*), shared by
// every Log of a Manager. They are always counted and exported only when
// Options.Registerer is set.
type metrics struct {
	appendBytes     prometheus.Counter
	appendBatches   prometheus.Counter
	appendRecords   prometheus.Counter
	appendRejected  prometheus.Counter
	duplicates      prometheus.Counter
	fsyncSeconds    prometheus.Histogram
	rolls           prometheus.Counter
	recoveryCut     prometheus.Counter
	segmentsDeleted *prometheus.CounterVec
	compactions     prometheus.Counter
	compactedBytes  prometheus.Counter
	corruptReads    prometheus.Counter
	segmentFlush    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, cache *fileCache) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "storage", Name: name, Help: help})
	}
	m := &metrics{
		appendBytes:    c("append_bytes_total", "Bytes of record batches appended (client and replicated)."),
		appendBatches:  c("append_batches_total", "Record batches appended."),
		appendRecords:  c("append_records_total", "Records appended, as counted in batch headers."),
		appendRejected: c("append_rejected_total", "Appends refused: invalid batches, sequence or epoch errors, size limits."),
		duplicates:     c("append_duplicates_total", "Idempotent retries answered with the original offsets."),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "storage", Name: "fsync_seconds",
			Help: "Time taken by fdatasync of segment files.", Buckets: prometheus.ExponentialBuckets(0.00005, 2.5, 12)}),
		rolls:       c("segment_rolls_total", "Segments rolled (closed and replaced by a new active segment)."),
		recoveryCut: c("recovery_truncated_bytes_total", "Bytes of torn or corrupt tail removed by recovery."),
		segmentsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "storage", Name: "segments_deleted_total",
			Help: "Segments deleted, by reason (retention, delete-records)."}, []string{"reason"}),
		compactions:    c("compactions_total", "Compaction passes completed."),
		compactedBytes: c("compaction_removed_bytes_total", "Bytes removed by compaction."),
		corruptReads:   c("corrupt_reads_total", "Reads refused because a stored batch failed its CRC."),
		segmentFlush: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "storage", Name: "segment_flush_seconds",
			Help: "Time taken by the background flush of a rolled segment (data fsync, index files, producer snapshot, directory fsync).", Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}),
	}
	if reg == nil {
		return m
	}
	all := []prometheus.Collector{m.appendBytes, m.appendBatches, m.appendRecords, m.appendRejected, m.duplicates,
		m.fsyncSeconds, m.rolls, m.recoveryCut, m.segmentsDeleted, m.compactions, m.compactedBytes, m.corruptReads, m.segmentFlush,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "sluice", Subsystem: "storage", Name: "open_segment_handles",
			Help: "Closed segments with cached open file handles, two descriptors each (bounded by what MaxOpenFiles leaves after open partitions)."}, func() float64 { return float64(cache.openCount()) }),
	}
	for i, col := range all {
		if err := reg.Register(col); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				all[i] = are.ExistingCollector
				continue
			}
		}
	}
	// Reuse series already registered by another Manager on the same
	// registry, so both count into the exported ones.
	if v, ok := all[0].(prometheus.Counter); ok {
		m.appendBytes = v
	}
	if v, ok := all[1].(prometheus.Counter); ok {
		m.appendBatches = v
	}
	if v, ok := all[2].(prometheus.Counter); ok {
		m.appendRecords = v
	}
	if v, ok := all[3].(prometheus.Counter); ok {
		m.appendRejected = v
	}
	if v, ok := all[4].(prometheus.Counter); ok {
		m.duplicates = v
	}
	if v, ok := all[5].(prometheus.Histogram); ok {
		m.fsyncSeconds = v
	}
	if v, ok := all[6].(prometheus.Counter); ok {
		m.rolls = v
	}
	if v, ok := all[7].(prometheus.Counter); ok {
		m.recoveryCut = v
	}
	if v, ok := all[8].(*prometheus.CounterVec); ok {
		m.segmentsDeleted = v
	}
	if v, ok := all[9].(prometheus.Counter); ok {
		m.compactions = v
	}
	if v, ok := all[10].(prometheus.Counter); ok {
		m.compactedBytes = v
	}
	if v, ok := all[11].(prometheus.Counter); ok {
		m.corruptReads = v
	}
	if v, ok := all[12].(prometheus.Histogram); ok {
		m.segmentFlush = v
	}
	return m
}

func (m *metrics) observeFsync(start time.Time) {
	m.fsyncSeconds.Observe(time.Since(start).Seconds())
}

// partitionCollector exports per-partition gauges for a Manager's open logs.
type partitionCollector struct {
	m                                       *Manager
	size, leo, start, hwm, segments, unstab *prometheus.Desc
}

func newPartitionCollector(m *Manager) *partitionCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("sluice_storage_partition_"+name, help, []string{"topic", "partition"}, nil)
	}
	return &partitionCollector{
		m:        m,
		size:     d("size_bytes", "Bytes in the partition's segment files."),
		leo:      d("log_end_offset", "Offset the next appended record will get."),
		start:    d("log_start_offset", "First readable offset."),
		hwm:      d("high_watermark", "High watermark."),
		segments: d("segments", "Segment files."),
		unstab:   d("last_stable_offset_lag", "High watermark minus last stable offset (open transactions)."),
	}
}

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.leo, c.start, c.hwm, c.segments, c.unstab} {
		ch <- d
	}
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for tp, l := range c.m.Logs() {
		p := strconv.Itoa(int(tp.Partition))
		g := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), tp.Topic, p)
		}
		g(c.size, l.Size())
		g(c.leo, l.LogEndOffset())
		g(c.start, l.LogStartOffset())
		g(c.hwm, l.HighWatermark())
		g(c.segments, int64(l.SegmentCount()))
		g(c.unstab, l.HighWatermark()-l.LastStableOffset())
	}
}
