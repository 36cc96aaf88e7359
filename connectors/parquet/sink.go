package parquet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// SinkPlugin is the name users put in connector.class.
const SinkPlugin = "parquet-sink"

func init() {
	connectors.Register(connectors.Plugin{
		Name: SinkPlugin,
		Kind: connectors.KindSink,
		Doc: "Writes topics to Parquet files in time-partitioned directories, rolled by records, bytes and record time. " +
			"Files are written under a temporary name and renamed into place; offsets are committed only for rows in renamed files, " +
			"and a retry rewrites the same files, so a crash leaves no duplicate rows.",
		Spec:    SinkSpec,
		NewSink: func() connectors.Sink { return NewSink() },
	})
}

// Sink writes Arrow record batches to Parquet files.
//
// Rows of one topic-partition are grouped into segments. A segment opens at
// a record and closes when a roll condition holds — flush.size records,
// rotate.size.bytes input bytes, or a record whose time passes the segment's
// record-time window. Each condition depends only on the records, so a
// retry from the segment's first offset closes it at the same record: every
// file, named by its first offset, is rewritten identically and replaces the
// earlier copy. The offset committed for a partition is the first offset of
// its open segment (or, with none open, everything handed to the sink):
// rows are acknowledged only once they are in files renamed into place.
//
// Inside a segment a partition has one open file per directory (rows are
// placed by record time); a schema change closes the directory's file and
// opens another. Schemas inferred from schemaless values can change at a
// different record on a replay, so committing a segment also removes files
// of the partition that start inside it but are not its own: leftovers of
// an earlier attempt whose rows the segment's files now hold.
//
// Limits: flush.size, rotate.size.bytes and rotate.interval bound a
// segment; max.open.files bounds the files open at once per partition; and
// row.group.rows/row.group.bytes bound the memory of each open file.
type Sink struct {
	cfg      *sinkConfig
	log      *slog.Logger
	parts    map[connectors.TopicPartition]*partitionState
	dirCache dirCache
	times    []int64 // record time (Unix µs) of each row of the batch being written
	sizes    []int64 // input size of each row of the batch being written
	metrics  *sinkMetrics
}

type partitionState struct {
	open       bool
	segStart   int64
	segRecords int64
	segBytes   int64
	windowEnd  int64     // Unix microseconds
	hasWindow  bool      // rotation by record time is on
	openedAt   time.Time // wall clock, for rotate.schedule.interval
	files      map[string]*fileWriter
	order      []*fileWriter // creation order: files are committed in it

	// Of the whole segment, for removing leftovers of earlier attempts:
	segLast  int64           // offset of its last row
	segDirs  map[string]bool // directories it wrote to
	segFiles map[string]bool // final paths it committed
}

// pendingRows are the rows of the current batch bound for one file, as
// runs [from, to) of row indexes: usually one run per batch.
type pendingRows struct {
	runs [][2]int
}

// extend adds the rows after the last one added, up to to (exclusive).
func (p *pendingRows) extend(to int) { p.runs[len(p.runs)-1][1] = to }

func (p *pendingRows) add(i int) {
	if n := len(p.runs); n > 0 && p.runs[n-1][1] == i {
		p.runs[n-1][1]++
		return
	}
	p.runs = append(p.runs, [2]int{i, i + 1})
}

// NewSink returns an unopened sink; the worker calls Open.
func NewSink() *Sink { return &Sink{} }

var _ connectors.ColumnSink = (*Sink)(nil)
var _ connectors.PartitionAware = (*Sink)(nil)

// Open parses the config.
func (s *Sink) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config) error {
	c, err := parseSinkConfig(cfg)
	if err != nil {
		return err
	}
	// Fail at Open, with the path in the message, when the output root is
	// not a writable directory, rather than at the first record.
	if err := mkdirDurable(c.root); err != nil {
		return fmt.Errorf("%s: %w", KeyPath, err)
	}
	probe, err := os.CreateTemp(c.root, ".sluice-write-check-*")
	if err != nil {
		return fmt.Errorf("%s: %s is not writable: %w", KeyPath, c.root, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	s.cfg = c
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.parts = make(map[connectors.TopicPartition]*partitionState)
	s.metrics = newSinkMetrics(task, s.log)
	return nil
}

// Write receives the records the worker does not turn into columns:
// tombstones, which a Parquet file has no way to express and are skipped.
// Any other record is refused with a clear reason.
func (s *Sink) Write(ctx context.Context, batch []connectors.Record) error {
	var refused connectors.RecordErrors
	for i, r := range batch {
		if r.Value != nil {
			refused.Add(i, errors.New("parquet sink writes columns: the value was not decoded into an Arrow record batch"))
		}
	}
	return refused.Err()
}

// WriteColumns appends the batches' rows to the open files of their
// partitions, committing segments as roll conditions are met.
func (s *Sink) WriteColumns(ctx context.Context, batches []connectors.ColumnBatch) error {
	var refused connectors.RecordErrors
	base := 0
	for bi := range batches {
		b := &batches[bi]
		n := len(b.Records)
		if err := ctx.Err(); err != nil {
			return err
		}
		if b.Columns == nil || int(b.Columns.NumRows()) != n {
			return fmt.Errorf("partition %s: column batch has %d rows for %d records", b.TopicPartition, rowsOf(b), n)
		}
		if err := s.readRecords(b); err != nil {
			// The batch's schema cannot be partitioned: refuse its records
			// (errors.tolerance decides), keep serving the rest.
			for i := 0; i < n; i++ {
				refused.Add(base+i, fmt.Errorf("partition %s offset %d: %w", b.TopicPartition, b.Records[i].Offset, err))
			}
			base += n
			continue
		}
		if err := s.writeBatch(b); err != nil {
			return fmt.Errorf("partition %s: %w", b.TopicPartition, err)
		}
		base += n
	}
	return refused.Err()
}

// readRecords fills s.times and s.sizes with the record time and the input
// size of each row of b, in one tight pass over the records: the only one
// (records are large and the loop that places rows does more per row, so
// it would wait on memory longer).
func (s *Sink) readRecords(b *connectors.ColumnBatch) error {
	n := len(b.Records)
	times := slices.Grow(s.times[:0], n)[:n]
	sizes := slices.Grow(s.sizes[:0], n)[:n]
	s.times, s.sizes = times, sizes
	for i := range b.Records {
		r := &b.Records[i]
		times[i] = r.Timestamp.UnixMicro()
		sizes[i] = int64(len(r.Key) + len(r.Value))
	}
	return s.cfg.columnTimes(b, times)
}

func rowsOf(b *connectors.ColumnBatch) int64 {
	if b.Columns == nil {
		return 0
	}
	return b.Columns.NumRows()
}

func (s *Sink) state(tp connectors.TopicPartition) *partitionState {
	st := s.parts[tp]
	if st == nil {
		st = &partitionState{files: make(map[string]*fileWriter), segDirs: make(map[string]bool), segFiles: make(map[string]bool)}
		s.parts[tp] = st
	}
	return st
}

// writeBatch places the rows of b (whose times and sizes readRecords has
// read) in files.
func (s *Sink) writeBatch(b *connectors.ColumnBatch) error {
	st := s.state(b.TopicPartition)
	schema := b.Columns.Schema()
	times, sizes := s.times, s.sizes
	var pending map[*fileWriter]*pendingRows
	var last *fileWriter // the file of the previous row, and its runs
	var lastRows *pendingRows
	flush := func(fw *fileWriter) error {
		p := pending[fw]
		if p == nil || len(p.runs) == 0 {
			return nil
		}
		delete(pending, fw)
		if fw == last {
			last, lastRows = nil, nil
		}
		return fw.writeRows(b.Columns, p.runs, b.Records, sizes)
	}
	flushAll := func() error {
		for _, fw := range st.order {
			if err := flush(fw); err != nil {
				return err
			}
		}
		return nil
	}
	dirs := &s.dirCache
	n := len(b.Records)
	for i := 0; i < n; i++ {
		rec := &b.Records[i]
		t := times[i]
		if st.open && s.shouldRoll(st, t) {
			if err := flushAll(); err != nil {
				s.abort(st)
				return err
			}
			if err := s.commitSegment(b.TopicPartition, st); err != nil {
				return err
			}
			last, lastRows = nil, nil // its files are closed
		}
		if !st.open {
			st.openedAt = time.Now()
			st.open, st.segStart, st.segRecords, st.segBytes = true, rec.Offset, 0, 0
			st.windowEnd, st.hasWindow = window(t, s.cfg.rotateInterval)
		}
		dir := dirs.dir(&s.cfg.partitioner, b.Topic, t)
		var fw *fileWriter
		if last != nil && last.dir == dir {
			fw = last // most rows go where the previous one went
		} else {
			fw = st.files[dir]
		}
		if fw != nil && fw.schema != schema && !fw.schema.Equal(schema) {
			// The value schema changed: finish this directory's file and
			// start another at this record.
			if err := flush(fw); err != nil {
				s.abort(st)
				return err
			}
			if err := s.commitFile(fw); err != nil {
				s.abort(st)
				return err
			}
			st.segFiles[fw.finalPath] = true
			s.log.Info("parquet file committed on schema change", "file", fw.finalPath, "rows", fw.rows)
			st.remove(fw)
			if last == fw {
				last, lastRows = nil, nil
			}
			fw = nil
		}
		if fw == nil && len(st.order) >= s.cfg.maxOpenFiles {
			// Too many directories open at once: commit them all and
			// start a new segment here (a function of the records, like
			// every roll).
			if err := flushAll(); err != nil {
				s.abort(st)
				return err
			}
			if err := s.commitSegment(b.TopicPartition, st); err != nil {
				return err
			}
			last, lastRows = nil, nil
			st.open, st.segStart, st.segRecords, st.segBytes = true, rec.Offset, 0, 0
			st.windowEnd, st.hasWindow = window(t, s.cfg.rotateInterval)
		}
		if fw == nil {
			var err error
			fw, err = newFileWriter(&s.cfg.file, dir, b.Topic, b.Partition, rec.Offset, schema)
			if err != nil {
				s.abort(st)
				return fmt.Errorf("offset %d: %w", rec.Offset, err)
			}
			st.files[dir] = fw
			st.order = append(st.order, fw)
			st.segDirs[dir] = true
		}
		fw.schema = schema // same fields; pointer equality short-cuts the next check
		if fw != last {
			if pending == nil {
				pending = make(map[*fileWriter]*pendingRows)
			}
			lastRows = pending[fw]
			if lastRows == nil {
				lastRows = &pendingRows{}
				pending[fw] = lastRows
			}
			last = fw
		}
		lastRows.add(i)
		st.segLast = rec.Offset
		st.segRecords++
		st.segBytes += sizes[i]
		// The rows that follow mostly go to the same file with no roll:
		// take them in a tight loop while that holds (same hour directory
		// as this row, whose file is fw; no roll condition), and go back
		// to the loop above at the first row that may do anything else.
		j := i + 1
		for ; j < n; j++ {
			t := times[j]
			if !dirs.holds(b.Topic, t) || s.shouldRoll(st, t) {
				break
			}
			st.segRecords++
			st.segBytes += sizes[j]
		}
		if j > i+1 {
			lastRows.extend(j)
			i = j - 1
			st.segLast = b.Records[i].Offset
		}
	}
	if err := flushAll(); err != nil {
		s.abort(st)
		return err
	}
	return nil
}

func (s *Sink) shouldRoll(st *partitionState, us int64) bool {
	return st.segRecords >= s.cfg.flushSize ||
		st.segBytes >= s.cfg.rotateBytes ||
		(st.hasWindow && us >= st.windowEnd)
}

// commitSegment renames every open file of the partition into place.
func (s *Sink) commitSegment(tp connectors.TopicPartition, st *partitionState) error {
	for k, fw := range st.order {
		if err := s.commitFile(fw); err != nil {
			for _, rest := range st.order[k+1:] {
				s.discard(rest)
			}
			st.reset()
			return fmt.Errorf("commit segment at offset %d: %w", st.segStart, err)
		}
		st.segFiles[fw.finalPath] = true
		s.log.Debug("parquet file committed", "file", fw.finalPath, "rows", fw.rows)
	}
	s.log.Info("parquet segment committed", "partition", tp.String(), "start_offset", st.segStart,
		"records", st.segRecords, "files", len(st.order))
	err := s.removeLeftovers(tp, st)
	st.reset()
	return err
}

// removeLeftovers deletes files of this partition that start inside the
// segment just committed but are not among its files. Segment boundaries
// are a function of the records, so such a file can only come from an
// earlier attempt at the same records that cut files differently inside
// the segment (the value schema of schemaless records is inferred per
// batch, and a schema change starts a new file): its rows are all in this
// segment's files, and keeping it would duplicate them.
func (s *Sink) removeLeftovers(tp connectors.TopicPartition, st *partitionState) error {
	prefix := fmt.Sprintf("%s+%d+", tp.Topic, tp.Partition)
	for dir := range st.segDirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("list %s: %w", dir, err)
		}
		removed := false
		for _, e := range entries {
			name := e.Name()
			if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".parquet") {
				continue
			}
			start, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".parquet"), 10, 64)
			if err != nil || start < st.segStart || start > st.segLast {
				continue
			}
			path := filepath.Join(dir, name)
			if st.segFiles[path] {
				continue
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("remove leftover %s: %w", path, err)
			}
			s.log.Warn("removed a file left by an earlier attempt at the same records (its rows are in this segment's files)", "file", path)
			removed = true
		}
		if removed {
			if err := syncDir(dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// abort discards the partition's open files; their records are re-read
// from the last committed offset when the task restarts.
func (s *Sink) abort(st *partitionState) {
	for _, fw := range st.order {
		s.discard(fw)
	}
	st.reset()
}

// commitFile commits one file and records it in the metrics.
func (s *Sink) commitFile(fw *fileWriter) error {
	start := time.Now()
	if err := fw.commit(); err != nil {
		s.metrics.discarded.Inc()
		return err
	}
	s.metrics.commit.Observe(time.Since(start).Seconds())
	s.metrics.files.Inc()
	s.metrics.rows.Add(float64(fw.rows))
	s.metrics.bytes.Add(float64(fw.size))
	return nil
}

// discard drops an open file (see fileWriter.abort).
func (s *Sink) discard(fw *fileWriter) {
	if fw.f != nil {
		s.metrics.discarded.Inc()
	}
	fw.abort()
}

func (st *partitionState) reset() {
	st.open = false
	st.segRecords, st.segBytes = 0, 0
	clear(st.files)
	st.order = st.order[:0]
	clear(st.segDirs)
	clear(st.segFiles)
}

func (st *partitionState) remove(fw *fileWriter) {
	delete(st.files, fw.dir)
	for i, o := range st.order {
		if o == fw {
			st.order = append(st.order[:i], st.order[i+1:]...)
			return
		}
	}
}

// Flush returns, per partition, the first offset of its open segment: rows
// before it are in files renamed into place. It does not close files, which
// would make boundaries depend on when the worker flushes — unless
// rotate.schedule.interval asks for it (see its doc).
func (s *Sink) Flush(ctx context.Context, written connectors.Offsets) (connectors.Offsets, error) {
	if s.cfg.rotateSchedule > 0 {
		for tp, st := range s.parts {
			if st.open && time.Since(st.openedAt) >= s.cfg.rotateSchedule {
				if err := s.commitSegment(tp, st); err != nil {
					return nil, fmt.Errorf("partition %s: %w", tp, err)
				}
			}
		}
	}
	out := make(connectors.Offsets, len(written))
	for tp, next := range written {
		if st := s.parts[tp]; st != nil && st.open {
			out[tp] = st.segStart
		} else {
			out[tp] = next
		}
	}
	return out, nil
}

// Assigned needs no preparation: state is created by the first row.
func (s *Sink) Assigned(ctx context.Context, partitions []connectors.TopicPartition) error {
	return nil
}

// Revoked discards the partitions' open files. Committing them now would
// cut a segment at a point a retry could not reproduce; the next owner
// rewrites them from the last committed offset instead.
func (s *Sink) Revoked(ctx context.Context, partitions []connectors.TopicPartition) error {
	for _, tp := range partitions {
		if st := s.parts[tp]; st != nil {
			s.abort(st)
			delete(s.parts, tp)
		}
	}
	return nil
}

// Close discards open files, for the same reason as Revoked.
func (s *Sink) Close(ctx context.Context) error {
	for tp, st := range s.parts {
		s.abort(st)
		delete(s.parts, tp)
	}
	return nil
}
