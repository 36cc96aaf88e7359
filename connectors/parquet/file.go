package parquet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors"
)

// Key-value metadata written into every file's footer, so a reader can tell
// which records of the log a file holds.
const (
	metaTopic       = "sluice.topic"
	metaPartition   = "sluice.partition"
	metaStartOffset = "sluice.start_offset"
	metaEndOffset   = "sluice.end_offset" // offset of the last row, inclusive
)

// fileOptions are the writer settings shared by every file of a sink.
type fileOptions struct {
	writerOptions  []pq.WriterOption
	rowGroupRows   int64
	rowGroupBytes  int64
	chunkRows      int // rows buffered per column before handing them to the writer
	offsetPadWidth int
	path           writePath
}

// writePath is how rows reach the column writers. Every path writes the
// same bytes (the differential test checks it); the slower ones are the
// references the columnar path is tested against.
type writePath uint8

const (
	// pathColumnar: flat required columns go into the column buffers in
	// one typed call per chunk; other flat columns become values straight
	// from their Arrow buffers; nested ones value by value.
	pathColumnar writePath = iota
	// pathValues: as pathColumnar, but flat required columns become values
	// too (the path when the typed calls are unavailable).
	pathValues
	// pathRowByRow: every column value by value, through encoder.write.
	pathRowByRow
)

// fileName is <topic>+<partition>+<startOffset>.parquet: the name depends only
// on the first record, so a retry of the same records overwrites the file
// instead of adding a second copy.
func fileName(topic string, partition int32, start int64, pad int) string {
	return fmt.Sprintf("%s+%d+%0*d.parquet", topic, partition, pad, start)
}

// fileWriter writes one Parquet file under a temporary name and renames it
// into place on commit. Rows arrive as (Arrow batch, row indexes).
type fileWriter struct {
	opts      *fileOptions
	dir       string
	finalPath string
	tmpPath   string
	schema    *arrow.Schema
	encs      []encoder
	cols      [][]pq.Value
	f         *os.File
	w         *pq.GenericWriter[any]

	topic       string
	partition   int32
	startOffset int64
	lastOffset  int64
	rows        int64
	bytes       int64 // estimated input bytes, for reporting
	size        int64 // of the committed file
	rgRows      int64
	rgBytes     int64
}

func newFileWriter(opts *fileOptions, dir string, topic string, partition int32, start int64, s *arrow.Schema) (*fileWriter, error) {
	pqSchema, encs, err := parquetSchema(topic, s)
	if err != nil {
		return nil, err
	}
	if err := mkdirDurable(dir); err != nil {
		return nil, err
	}
	name := fileName(topic, partition, start, opts.offsetPadWidth)
	if opts.path == pathRowByRow {
		for _, enc := range encs {
			if leaf, ok := enc.(*leafEncoder); ok {
				leaf.perValue = true
			}
		}
	}
	fw := &fileWriter{
		opts:        opts,
		dir:         dir,
		finalPath:   filepath.Join(dir, name),
		tmpPath:     filepath.Join(dir, "."+name+".tmp"),
		schema:      s,
		encs:        encs,
		cols:        make([][]pq.Value, len(pqSchema.Columns())),
		topic:       topic,
		partition:   partition,
		startOffset: start,
		lastOffset:  start,
	}
	// O_TRUNC: a temporary file left by a crashed attempt at the same
	// records is simply rewritten.
	fw.f, err = os.OpenFile(fw.tmpPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", fw.tmpPath, err)
	}
	wopts := append([]pq.WriterOption{pqSchema,
		pq.KeyValueMetadata(metaTopic, topic),
		pq.KeyValueMetadata(metaPartition, strconv.Itoa(int(partition))),
		pq.KeyValueMetadata(metaStartOffset, strconv.FormatInt(start, 10)),
	}, opts.writerOptions...)
	fw.w = pq.NewGenericWriter[any](fw.f, wopts...)
	return fw, nil
}

// bind points the encoders at the columns of rec, once per call.
func (fw *fileWriter) bind(rec arrow.Record) error {
	for i, enc := range fw.encs {
		if err := enc.bind(rec.Column(i)); err != nil {
			return fmt.Errorf("column %q: %w", fw.schema.Field(i).Name, err)
		}
	}
	return nil
}

// writeRows appends the rows of rec in runs (row index ranges [from, to))
// whose records (for offsets) are recs and input sizes sizes. Rows are
// encoded column by column in chunks; row groups are cut by row count and
// input bytes, never by batch boundaries, so a retry produces the same file.
func (fw *fileWriter) writeRows(rec arrow.Record, runs [][2]int, recs []connectors.Record, sizes []int64) error {
	if err := fw.bind(rec); err != nil {
		return err
	}
	for _, run := range runs {
		for from := run[0]; from < run[1]; {
			to, endOfGroup := from, false
			limit := min(run[1], from+fw.opts.chunkRows)
			rgRows, rgBytes, bytes := fw.rgRows, fw.rgBytes, int64(0)
			for _, size := range sizes[from:limit] {
				rgRows++
				rgBytes += size
				bytes += size
				to++
				if rgRows >= fw.opts.rowGroupRows || rgBytes >= fw.opts.rowGroupBytes {
					endOfGroup = true
					break
				}
			}
			fw.rows += int64(to - from)
			fw.bytes += bytes
			fw.rgRows, fw.rgBytes = rgRows, rgBytes
			fw.lastOffset = recs[to-1].Offset
			for i, enc := range fw.encs {
				if err := fw.writeColumn(i, enc, from, to); err != nil {
					return err
				}
			}
			if err := fw.flushValues(); err != nil {
				return err
			}
			if endOfGroup {
				if err := fw.w.Flush(); err != nil {
					return fmt.Errorf("write row group of %s: %w", fw.tmpPath, err)
				}
				fw.rgRows, fw.rgBytes = 0, 0
			}
			from = to
		}
	}
	return nil
}

// writeColumn writes rows [from, to) of top-level field i: straight into
// the column writer's buffer when the column is flat and required and the
// buffer has a typed writer for it, else as values into fw.cols.
func (fw *fileWriter) writeColumn(i int, enc encoder, from, to int) error {
	switch fw.opts.path {
	case pathRowByRow:
		rowByRow(enc, from, to, fw.cols)
		return nil
	case pathColumnar:
		leaf, ok := enc.(*leafEncoder)
		if !ok || leaf.optional || leaf.view == nil {
			break
		}
		cw := fw.w.ColumnWriters()[leaf.column]
		buf, err := columnBufferOf(cw)
		if err != nil {
			return fmt.Errorf("write column %q of %s: %w", fw.schema.Field(i).Name, fw.tmpPath, err)
		}
		if buf == nil {
			break
		}
		done, err := leaf.view.bulk(buf, from, to)
		if err == nil && done {
			// Cut a page if the buffer is full, as WriteRowValues does
			// after every write; so pages end where they would have.
			_, err = cw.WriteRowValues(noValues)
		}
		if err != nil {
			return fmt.Errorf("write column %q of %s: %w", fw.schema.Field(i).Name, fw.tmpPath, err)
		}
		if done {
			return nil
		}
	}
	enc.writeRange(from, to, fw.cols)
	return nil
}

// flushValues hands the buffered values to the column writers.
func (fw *fileWriter) flushValues() error {
	cws := fw.w.ColumnWriters()
	for c, vals := range fw.cols {
		if len(vals) == 0 {
			continue
		}
		if _, err := cws[c].WriteRowValues(vals); err != nil {
			return fmt.Errorf("write column %d of %s: %w", c, fw.tmpPath, err)
		}
		clear(vals) // drop references to the batch's buffers
		fw.cols[c] = vals[:0]
	}
	return nil
}

// commit finishes the file: footer, fsync, rename into place, fsync of the
// directory so the rename itself survives a crash.
func (fw *fileWriter) commit() error {
	fw.w.SetKeyValueMetadata(metaEndOffset, strconv.FormatInt(fw.lastOffset, 10))
	if err := fw.w.Close(); err != nil {
		fw.abort()
		return fmt.Errorf("finish %s: %w", fw.tmpPath, err)
	}
	if err := fw.f.Sync(); err != nil {
		fw.abort()
		return fmt.Errorf("fsync %s: %w", fw.tmpPath, err)
	}
	if st, err := fw.f.Stat(); err == nil {
		fw.size = st.Size()
	}
	if err := fw.f.Close(); err != nil {
		fw.f = nil
		fw.abort()
		return fmt.Errorf("close %s: %w", fw.tmpPath, err)
	}
	fw.f = nil
	if err := os.Rename(fw.tmpPath, fw.finalPath); err != nil {
		fw.abort()
		return fmt.Errorf("rename %s: %w", fw.tmpPath, err)
	}
	return syncDir(fw.dir)
}

// abort discards the temporary file.
func (fw *fileWriter) abort() {
	if fw.f != nil {
		_ = fw.f.Close()
		fw.f = nil
	}
	// Best effort: a stale temporary file is truncated and rewritten by the
	// next attempt at the same records, and hidden from readers meanwhile.
	_ = os.Remove(fw.tmpPath)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// mkdirDurable creates dir and any missing parents, and fsyncs the parent
// of each directory it creates: a file renamed into a new hour directory
// must not vanish with that directory's entry after a power loss, once its
// offsets are committed.
func mkdirDurable(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	for _, d := range missing {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
