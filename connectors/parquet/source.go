package parquet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/sluicehq/sluice/connectors"
)

// SourcePlugin is the name users put in connector.class.
const SourcePlugin = "parquet-source"

// Source config keys.
const (
	KeySourcePath     = "path"
	KeySourceTopic    = "topic"
	KeySourceKeyField = "key.field"
	KeySourceTSField  = "timestamp.field"
	KeyBatchSize      = "batch.size"
	KeyRescan         = "rescan.interval"
)

// SourceSpec declares the Parquet source's configuration.
var SourceSpec = connectors.ConfigSpec{
	{Name: KeySourcePath, Type: connectors.TypeString, Required: true, Validate: validGlob,
		Doc: "A Parquet file or a glob (/data/in/*.parquet). Files are read in name order; new matches are picked up on rescan."},
	{Name: KeySourceTopic, Type: connectors.TypeString, Required: true, Doc: "Kafka topic the rows go to."},
	{Name: KeySourceKeyField, Type: connectors.TypeString,
		Doc: "Top-level column whose value is the record key (its text; strings unquoted). Empty: no key."},
	{Name: KeySourceTSField, Type: connectors.TypeString,
		Doc: "Top-level timestamp, date or int64 (epoch milliseconds) column whose value is the record timestamp, so re-ingested data keeps its event time. Empty, or a null value: the time the row is read."},
	{Name: KeyBatchSize, Type: connectors.TypeInt, Default: "1000", Validate: connectors.AtLeast(1),
		Doc: "Rows per poll."},
	{Name: KeyRescan, Type: connectors.TypeDuration, Default: "10s", Validate: connectors.Positive,
		Doc: "How often the glob is matched again for new files once every known file is read."},
}

func validGlob(v any) error {
	if _, err := filepath.Match(v.(string), ""); err != nil {
		return fmt.Errorf("bad glob: %w", err)
	}
	return nil
}

func init() {
	connectors.Register(connectors.Plugin{
		Name: SourcePlugin,
		Kind: connectors.KindSource,
		Doc: "Reads Parquet files (a path or a glob) into a topic, one record per row as JSON with an Arrow schema; " +
			"the position is the file and row, so a restart resumes after the last row in the log.",
		Spec:      SourceSpec,
		NewSource: func() connectors.Source { return NewSource() },
	})
}

// filePosition is the source offset of a file: the next row to read.
type filePosition struct {
	Row int64 `json:"row"`
}

// Source reads Parquet files row by row.
type Source struct {
	glob      string
	topic     string
	keyField  string
	tsField   string
	batchSize int
	rescan    time.Duration
	log       *slog.Logger

	committed connectors.Positions
	done      map[string]bool // fully read, or unreadable (logged once)
	pending   []string        // matched, not yet read, in name order
	lastScan  time.Time
	cur       *openFile
}

type openFile struct {
	path  string
	part  string // source partition key: "file:" + absolute path
	f     *os.File
	rows  *pq.GenericReader[any]
	dec   *rowDecoder
	next  int64 // index of the next row
	total int64
	buf   []pq.Row
	tsCol int                              // leaf column of timestamp.field
	tsOf  func(pq.Value) (time.Time, bool) // nil: no timestamp.field
}

// NewSource returns an unopened source; the worker calls Open.
func NewSource() *Source { return &Source{} }

var _ connectors.Source = (*Source)(nil)

// Open remembers the committed positions; files are opened lazily.
func (s *Source) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.glob = cfg.String(KeySourcePath)
	s.topic = cfg.String(KeySourceTopic)
	s.keyField = cfg.String(KeySourceKeyField)
	s.tsField = cfg.String(KeySourceTSField)
	s.batchSize = int(cfg.Int(KeyBatchSize))
	s.rescan = cfg.Duration(KeyRescan)
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.committed = committed
	s.done = make(map[string]bool)
	return nil
}

// scan matches the glob and queues files not read yet.
func (s *Source) scan() error {
	s.lastScan = time.Now()
	matches, err := filepath.Glob(s.glob)
	if err != nil {
		return fmt.Errorf("glob %q: %w", s.glob, err)
	}
	sort.Strings(matches)
	queued := make(map[string]bool, len(s.pending))
	for _, p := range s.pending {
		queued[p] = true
	}
	for _, m := range matches {
		abs, err := filepath.Abs(m)
		if err != nil || s.done[abs] || queued[abs] || (s.cur != nil && s.cur.path == abs) {
			continue
		}
		if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
			continue
		}
		s.pending = append(s.pending, abs)
	}
	return nil
}

// Poll returns up to batch.size rows of the current file, moving on to the
// next file when one is exhausted.
func (s *Source) Poll(ctx context.Context) ([]connectors.Record, error) {
	for s.cur == nil {
		if len(s.pending) == 0 {
			if time.Since(s.lastScan) < s.rescan {
				return s.idle(ctx)
			}
			if err := s.scan(); err != nil {
				return nil, err
			}
			if len(s.pending) == 0 {
				return s.idle(ctx)
			}
		}
		path := s.pending[0]
		s.pending = s.pending[1:]
		of, err := s.openFile(path)
		if err != nil {
			// A bad file is reported and skipped; the others keep flowing.
			s.log.Error("parquet source: skipping unreadable file", "file", path, "error", err)
			s.done[path] = true
			continue
		}
		if of == nil {
			s.done[path] = true // already fully in the log
			continue
		}
		s.cur = of
	}
	recs, err := s.readRows(s.cur)
	if err != nil {
		s.log.Error("parquet source: stopping at a bad row; the rest of the file is skipped", "file", s.cur.path, "row", s.cur.next, "error", err)
		s.finishFile()
		return recs, nil
	}
	if s.cur.next >= s.cur.total {
		s.finishFile()
	}
	return recs, nil
}

func (s *Source) idle(ctx context.Context) ([]connectors.Record, error) {
	wait := min(s.rescan-time.Since(s.lastScan), time.Second)
	if wait <= 0 {
		return nil, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Source) finishFile() {
	s.done[s.cur.path] = true
	s.cur.close()
	s.cur = nil
}

// openFile opens path at its committed row; nil means nothing is left.
func (s *Source) openFile(path string) (*openFile, error) {
	part := "file:" + path
	var pos filePosition
	if _, err := s.committed.Decode(part, &pos); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	of, err := s.openReader(f, st.Size(), pos.Row)
	if err != nil || of == nil {
		f.Close()
		return nil, err
	}
	of.path, of.part, of.f = path, part, f
	if pos.Row > 0 {
		s.log.Info("parquet source: resuming file", "file", path, "row", pos.Row)
	}
	return of, nil
}

// openReader opens Parquet data at row start; nil means nothing is left.
func (s *Source) openReader(r io.ReaderAt, size, start int64) (of *openFile, err error) {
	defer recoverAs(&err)
	if err := checkFrame(r, size); err != nil {
		return nil, err
	}
	pf, err := pq.OpenFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("not a readable Parquet file: %w", err)
	}
	dec, err := newRowDecoder(pf.Schema())
	if err != nil {
		return nil, err
	}
	if s.keyField != "" {
		dec.keyIndex = -1
		for i, n := range dec.names {
			if n == s.keyField {
				dec.keyIndex = i
			}
		}
		if dec.keyIndex < 0 {
			return nil, fmt.Errorf("key field %q is not a top-level column", s.keyField)
		}
	}
	var tsCol int
	var tsOf func(pq.Value) (time.Time, bool)
	if s.tsField != "" {
		tsCol, tsOf, err = timestampColumn(pf.Schema(), dec, s.tsField)
		if err != nil {
			return nil, err
		}
	}
	total := pf.NumRows()
	if start >= total {
		return nil, nil
	}
	rows := pq.NewGenericReader[any](pf)
	if start > 0 {
		if err := rows.SeekToRow(start); err != nil {
			rows.Close()
			return nil, fmt.Errorf("seek to row %d: %w", start, err)
		}
	}
	return &openFile{rows: rows, dec: dec, next: start, total: total, tsCol: tsCol, tsOf: tsOf,
		buf: make([]pq.Row, min(s.batchSize, 1024))}, nil
}

// readRows reads the next rows of a file as records.
func (s *Source) readRows(of *openFile) (recs []connectors.Record, err error) {
	defer recoverAs(&err)
	for len(recs) < s.batchSize && of.next < of.total {
		want := min(len(of.buf), s.batchSize-len(recs))
		n, rerr := of.rows.ReadRows(of.buf[:want])
		for _, row := range of.buf[:n] {
			value := of.dec.appendJSON(nil, row)
			of.next++
			r := connectors.Record{
				Topic:     s.topic,
				Value:     value,
				Timestamp: time.Now(),
				Schema:    of.dec.schema,
				Position: connectors.Position{
					Partition: of.part,
					Offset:    []byte(`{"row":` + strconv.FormatInt(of.next, 10) + `}`),
				},
			}
			if of.dec.keyIndex >= 0 {
				r.Key = of.dec.key(value)
			}
			if of.tsOf != nil {
				if ts, ok := of.tsOf(of.dec.cur.value(of.tsCol)); ok {
					r.Timestamp = ts
				}
			}
			recs = append(recs, r)
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				if of.next < of.total {
					return recs, fmt.Errorf("file ends at row %d of %d", of.next, of.total)
				}
				break
			}
			return recs, rerr
		}
		if n == 0 {
			break
		}
	}
	return recs, nil
}

func (of *openFile) close() {
	of.rows.Close()
	if of.f != nil {
		of.f.Close()
	}
}

// Commit needs no action: positions are stored by the worker.
func (s *Source) Commit(ctx context.Context, positions []connectors.Position) error { return nil }

// Close closes the current file.
func (s *Source) Close(ctx context.Context) error {
	if s.cur != nil {
		s.cur.close()
		s.cur = nil
	}
	return nil
}

// timestampColumn finds the leaf column of a top-level timestamp, date or
// int64 field and how to turn its values into times.
func timestampColumn(s *pq.Schema, dec *rowDecoder, name string) (int, func(pq.Value) (time.Time, bool), error) {
	for i, f := range s.Fields() {
		if f.Name() != name {
			continue
		}
		n := dec.fields[i]
		if n.kind != decLeaf {
			return 0, nil, fmt.Errorf("timestamp field %q is not a scalar column", name)
		}
		null := func(v pq.Value) bool { return v.IsNull() || v.DefinitionLevel() < n.nullDef }
		typ := f.Type()
		lt := typ.LogicalType()
		switch {
		case lt != nil && isLogical[*format.TimestampType](lt):
			_, scale := timeUnit(lt.Value.(*format.TimestampType).Unit)
			return n.col, func(v pq.Value) (time.Time, bool) {
				if null(v) {
					return time.Time{}, false
				}
				return time.Unix(0, 0).Add(time.Duration(v.Int64() * scale)), true
			}, nil
		case lt != nil && isLogical[*format.DateType](lt):
			return n.col, func(v pq.Value) (time.Time, bool) {
				if null(v) {
					return time.Time{}, false
				}
				return time.Unix(int64(v.Int32())*86400, 0), true
			}, nil
		case typ.Kind() == pq.Int64:
			return n.col, func(v pq.Value) (time.Time, bool) {
				if null(v) {
					return time.Time{}, false
				}
				return time.UnixMilli(v.Int64()), true
			}, nil
		}
		return 0, nil, fmt.Errorf("timestamp field %q is %s; want a timestamp, a date or int64 epoch milliseconds", name, typ)
	}
	return 0, nil, fmt.Errorf("timestamp field %q is not a top-level column", name)
}

// checkFrame validates the magic numbers and the footer length before
// parquet-go reads the file: parquet-go allocates the footer length it finds
// (up to 4 GiB) without comparing it with the file size.
func checkFrame(r io.ReaderAt, size int64) error {
	const magic = "PAR1"
	if size < 12 {
		return fmt.Errorf("not a Parquet file: %d bytes is too short", size)
	}
	var head [4]byte
	var tail [8]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("read footer: %w", err)
	}
	if string(head[:]) != magic || (string(tail[4:]) != magic && string(tail[4:]) != "PARE") {
		return fmt.Errorf("not a Parquet file: no PAR1 magic at its start and end")
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 {
		return fmt.Errorf("corrupt Parquet file: footer of %d bytes in a file of %d", footer, size)
	}
	return nil
}

// recoverAs turns a panic inside parquet-go on a malformed file into an
// error: bad files must not take the worker down.
func recoverAs(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("malformed Parquet data: %v", r)
	}
}
