package parquet

import (
	"fmt"
	"time"

	"github.com/parquet-go/parquet-go/compress"

	pq "github.com/parquet-go/parquet-go"
	"github.com/sluicehq/sluice/connectors"
)

// Sink config keys.
const (
	KeyPath             = "path"
	KeyPartitionBy      = "partition.by"
	KeyPartitionField   = "partition.time.field"
	KeyPartitionTZ      = "partition.timezone"
	KeyFlushSize        = "flush.size"
	KeyRotateBytes      = "rotate.size.bytes"
	KeyRotateInterval   = "rotate.interval"
	KeyCompression      = "compression"
	KeyRowGroupRows     = "row.group.rows"
	KeyRowGroupBytes    = "row.group.bytes"
	KeyOffsetPadWidth   = "filename.offset.zero.pad.width"
	KeyMaxOpenFiles     = "max.open.files"
	KeyRotateSchedule   = "rotate.schedule.interval"
	partitionByTime     = "time"
	partitionByNone     = "none"
	defaultRowGroupRows = 1_000_000
)

// SinkSpec declares the Parquet sink's configuration.
var SinkSpec = connectors.ConfigSpec{
	{Name: KeyPath, Type: connectors.TypeString, Required: true, Group: "Output",
		Doc: "Root directory. Files go to <path>/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<startOffset>.parquet."},
	{Name: KeyPartitionBy, Type: connectors.TypeEnum, Default: partitionByTime, Enum: []string{partitionByTime, partitionByNone}, Group: "Output",
		Doc: "time: dt=YYYY-MM-DD/hour=HH directories from record time; none: one directory per topic."},
	{Name: KeyPartitionField, Type: connectors.TypeString, Group: "Output",
		Doc: "Value field holding the record time (timestamp, date or int64 epoch milliseconds). Empty: the Kafka record timestamp. Rows where it is null use the record timestamp."},
	{Name: KeyPartitionTZ, Type: connectors.TypeString, Default: "UTC", Group: "Output", Validate: validTZ,
		Doc: "Time zone of the dt= and hour= directories (an IANA name)."},
	{Name: KeyFlushSize, Type: connectors.TypeInt, Default: "100000", Validate: connectors.AtLeast(1), Group: "Rotation",
		Doc: "Records per topic-partition after which the open files are committed."},
	{Name: KeyRotateBytes, Type: connectors.TypeInt, Default: "134217728", Validate: connectors.AtLeast(1), Group: "Rotation",
		Doc: "Input bytes (record keys and values as in the log) per topic-partition after which the open files are committed."},
	{Name: KeyRotateInterval, Type: connectors.TypeDuration, Default: "1h", Group: "Rotation",
		Doc: "Record-time window: files are committed when a record's time passes the end of the window (aligned to the epoch) in which the files' first record falls. 0 disables."},
	{Name: KeyRotateSchedule, Type: connectors.TypeDuration, Default: "0", Group: "Rotation",
		Doc: "Wall-clock limit on how long files stay open (checked at each offset flush), so a quiet partition's rows still reach files. 0 (default) disables it. Cuts then depend on timing, not only on the records: after a crash the replay can cut elsewhere, and files left by the first attempt are removed when the replay's segment covering them is committed, so duplicates can exist only until then."},
	{Name: KeyMaxOpenFiles, Type: connectors.TypeInt, Default: "64", Validate: connectors.AtLeast(1), Group: "Rotation",
		Doc: "Most files open at once per topic-partition (late records open files in older directories); one more commits the open files first. Each open file buffers a row group in memory."},
	{Name: KeyCompression, Type: connectors.TypeEnum, Default: "snappy", Enum: []string{"snappy", "zstd", "gzip", "lz4", "none"}, Group: "Format",
		Doc: "Page compression codec."},
	{Name: KeyRowGroupRows, Type: connectors.TypeInt, Default: fmt.Sprint(defaultRowGroupRows), Validate: connectors.AtLeast(1), Group: "Format",
		Doc: "Rows per Parquet row group."},
	{Name: KeyRowGroupBytes, Type: connectors.TypeInt, Default: "67108864", Validate: connectors.AtLeast(1), Group: "Format",
		Doc: "Input bytes per Parquet row group; a row group is held in memory until it is complete."},
	{Name: KeyOffsetPadWidth, Type: connectors.TypeInt, Default: "10", Validate: connectors.Between(1, 20), Group: "Format",
		Doc: "Zero padding of the start offset in file names, so that names sort in offset order."},
}

func validTZ(v any) error {
	if _, err := time.LoadLocation(v.(string)); err != nil {
		return fmt.Errorf("unknown time zone: %w", err)
	}
	return nil
}

func codec(name string) compress.Codec {
	switch name {
	case "zstd":
		return &pq.Zstd
	case "gzip":
		return &pq.Gzip
	case "lz4":
		return &pq.Lz4Raw
	case "none":
		return &pq.Uncompressed
	}
	return &pq.Snappy
}

// sinkConfig is the parsed configuration.
type sinkConfig struct {
	partitioner
	flushSize      int64
	rotateBytes    int64
	rotateInterval time.Duration
	maxOpenFiles   int
	rotateSchedule time.Duration
	file           fileOptions
}

func parseSinkConfig(cfg connectors.Config) (*sinkConfig, error) {
	loc, err := time.LoadLocation(cfg.String(KeyPartitionTZ))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyPartitionTZ, err)
	}
	return &sinkConfig{
		partitioner: partitioner{
			root:      cfg.String(KeyPath),
			byTime:    cfg.String(KeyPartitionBy) != partitionByNone,
			timeField: cfg.String(KeyPartitionField),
			loc:       loc,
		},
		flushSize:      cfg.Int(KeyFlushSize),
		rotateBytes:    cfg.Int(KeyRotateBytes),
		rotateInterval: cfg.Duration(KeyRotateInterval),
		maxOpenFiles:   int(cfg.Int(KeyMaxOpenFiles)),
		rotateSchedule: cfg.Duration(KeyRotateSchedule),
		file: fileOptions{
			writerOptions: []pq.WriterOption{
				pq.Compression(codec(cfg.String(KeyCompression))),
				pq.CreatedBy("sluice", "", ""),
			},
			rowGroupRows:   cfg.Int(KeyRowGroupRows),
			rowGroupBytes:  cfg.Int(KeyRowGroupBytes),
			chunkRows:      1024,
			offsetPadWidth: int(cfg.Int(KeyOffsetPadWidth)),
		},
	}, nil
}
