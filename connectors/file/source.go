package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// Source reads records from files. See the package doc and SourceSpec.
type Source struct {
	log      *slog.Logger
	pattern  string
	glob     bool
	tail     bool
	fromEnd  bool
	interval time.Duration
	batch    int
	maxLen   int
	skipBad  bool
	split    splitFunc
	dec      decoder
	schema   *arrow.Schema
	columns  []string // csv.columns, for files without a header line

	committed map[string]filePos  // by path
	byID      map[fileID]filePos  // the same positions by file identity
	readers   []*fileReader       // open files, in reading order
	out       []connectors.Record // the slice Poll refills
	seen      map[string]bool     // paths finished in non-tail mode
	lastScan  time.Time
	// warnedMissing: the missing file was reported once.
	warnedMissing bool
}

var _ connectors.Source = (*Source)(nil)

// Open implements connectors.Source.
func (s *Source) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config, committed connectors.Positions) error {
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.pattern = cfg.String("file")
	s.glob = strings.ContainsAny(s.pattern, "*?[")
	s.tail = cfg.Bool("tail")
	s.fromEnd = cfg.String("read.from") == "end"
	s.interval = cfg.Duration("poll.interval")
	s.batch = int(cfg.Int("batch.size"))
	s.maxLen = int(cfg.Int("max.record.bytes"))
	s.skipBad = cfg.String("invalid.records") == "skip"
	s.dec = decoder{format: cfg.String("format"), keyField: cfg.String("key.field")}
	s.split = splitLines
	if s.dec.format == FormatCSV {
		s.split = splitCSV
		if err := s.configureCSV(cfg); err != nil {
			return err
		}
	}
	s.committed, s.byID, s.seen = map[string]filePos{}, map[fileID]filePos{}, map[string]bool{}
	for path, raw := range committed {
		var p filePos
		if err := json.Unmarshal(raw, &p); err != nil {
			s.log.Warn("ignoring unreadable file position", "path", path, "err", err)
			continue
		}
		s.committed[path] = p
		s.byID[p.fileID] = p
	}
	return nil
}

func (s *Source) configureCSV(cfg connectors.Config) error {
	d := &s.dec
	d.comma = ','
	if c := cfg.String("csv.delimiter"); c != "" {
		d.comma = []rune(c)[0]
	}
	d.hasHeader = cfg.Bool("csv.header")
	s.columns = cfg.List("csv.columns")
	if !d.hasHeader && len(s.columns) == 0 {
		return errors.New("csv.columns is required when csv.header=false")
	}
	d.nullStr = cfg.String("csv.null.string")
	d.nullable = true
	if sc := cfg.String("csv.schema"); sc != "" {
		st, err := parseColumns(sc)
		if err != nil {
			return err
		}
		d.schema = st
		s.schema = st
	}
	return nil
}

// parseColumns parses "name type, name type" (or "name: type") into a
// schema of nullable fields.
func parseColumns(s string) (*arrow.Schema, error) {
	dt, err := schema.ParseType("struct<" + normalizeColumns(s) + ">")
	if err != nil {
		return nil, fmt.Errorf("csv.schema: %w", err)
	}
	st := dt.(*arrow.StructType)
	return arrow.NewSchema(st.Fields(), nil), nil
}

// normalizeColumns turns "a int64, b string" into "a: int64, b: string",
// leaving "a: int64" alone. Commas inside () and <> are not separators.
func normalizeColumns(s string) string {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(', '<', '[':
			depth++
		case ')', '>', ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	parts = append(parts, s[start:])
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if !strings.Contains(p, ":") || strings.Index(p, ":") > strings.IndexAny(p, " \t") && strings.IndexAny(p, " \t") > 0 {
			if j := strings.IndexAny(p, " \t"); j > 0 {
				p = p[:j] + ":" + p[j:]
			}
		}
		parts[i] = p
	}
	return strings.Join(parts, ", ")
}

// Poll implements connectors.Source: up to batch.size records from the
// open files, in order; it waits up to poll.interval when there is nothing.
func (s *Source) Poll(ctx context.Context) ([]connectors.Record, error) {
	if time.Since(s.lastScan) >= s.interval {
		if err := s.scan(); err != nil {
			return nil, err
		}
		s.lastScan = time.Now()
	}
	// The worker is done with the last poll's slice: refill it.
	prev := s.out
	out := prev[:0]
	for _, r := range s.readers {
		if len(out) >= s.batch {
			break
		}
		var err error
		if out, err = s.read(r, out); err != nil {
			return nil, err
		}
	}
	s.reap()
	if len(out) < len(prev) {
		clear(prev[len(out):]) // let go of what older records point to
	}
	s.out = out
	if len(out) > 0 {
		return out, nil
	}
	wait := time.Until(s.lastScan.Add(s.interval))
	if wait > time.Second {
		wait = time.Second
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return nil, nil
}

// maxPreallocRecords caps the records a Poll allocates room for up front.
const maxPreallocRecords = 16384

// read appends records decoded from r to out, up to batch.size in all; the
// last from r carries r's position.
func (s *Source) read(r *fileReader, out []connectors.Record) ([]connectors.Record, error) {
	final := !s.tail || r.draining
	if out == nil {
		out = make([]connectors.Record, 0, min(s.batch, maxPreallocRecords))
	}
	first := len(out)
	for len(out) < s.batch {
		startOff := r.offset
		raw, ok, err := r.next(final)
		if err != nil {
			var tooLong errTooLong
			if errors.As(err, &tooLong) {
				if err := s.bad(r, startOff, err); err != nil {
					return nil, err
				}
				continue
			}
			return nil, connectors.Retriable(err)
		}
		if !ok {
			if final {
				r.done = true
			} else if err := s.checkTail(r); err != nil {
				return nil, err
			}
			break
		}
		atStart := r.needsHead
		r.needsHead = false
		if s.dec.format == FormatCSV {
			if r.header == nil && !s.dec.hasHeader {
				r.header = s.columns
			}
			if !sameStrings(s.dec.header, r.header) {
				s.dec.header, s.dec.types = r.header, nil
			}
		}
		d, err := s.dec.decode(raw, atStart)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			if err := s.bad(r, startOff, err); err != nil {
				return nil, err
			}
			continue
		}
		if d.header {
			r.header = s.dec.header
			continue
		}
		out = append(out, connectors.Record{Key: d.key, Value: d.value, Schema: s.schema})
	}
	if len(out) > first {
		pos, err := s.position(r)
		if err != nil {
			return nil, err
		}
		out[len(out)-1].Position = pos
	}
	return out, nil
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// bad handles a record that does not decode: fail with its location, or
// log and skip it (invalid.records=skip).
func (s *Source) bad(r *fileReader, offset int64, err error) error {
	loc := fmt.Errorf("file %s record %d (byte %d): %w", r.path, r.line, offset, err)
	if !s.skipBad {
		return loc
	}
	s.log.Warn("skipping invalid record (invalid.records=skip)", "err", loc)
	return nil
}

func (s *Source) position(r *fileReader) (connectors.Position, error) {
	if r.fpLen < fingerprintBytes && r.fpLen < r.offset {
		sum, n, err := fingerprint(r.f, r.offset)
		if err != nil {
			return connectors.Position{}, connectors.Retriable(fmt.Errorf("read %s: %w", r.path, err))
		}
		r.fpSum, r.fpLen = sum, n
	}
	p := filePos{fileID: r.id, Offset: r.offset, Line: r.line, Fingerprint: r.fpSum, FPLen: r.fpLen, Header: r.header}
	s.committed[r.path] = p
	s.byID[r.id] = p
	return connectors.NewPosition(r.path, p)
}

// checkTail notices, at EOF of a tailed file, that it was truncated (read
// again from the start) or rotated away (drain it, then open the new file).
func (s *Source) checkTail(r *fileReader) error {
	fi, err := r.f.Stat()
	if err != nil {
		return connectors.Retriable(fmt.Errorf("stat %s: %w", r.path, err))
	}
	if fi.Size() < r.offset {
		s.log.Warn("file truncated; reading it again from the start", "path", r.path, "size", fi.Size(), "offset", r.offset)
		r.seek(0, 0)
		r.fpLen = 0
		r.header = nil
		return nil
	}
	cur, err := os.Stat(r.path)
	if err != nil || idOf(cur) != r.id {
		// Rotated (renamed away, or replaced): finish the old file; the
		// next scan opens whatever now has the name.
		r.draining = true
	}
	return nil
}

// reap closes finished readers.
func (s *Source) reap() {
	kept := s.readers[:0]
	for _, r := range s.readers {
		if r.done {
			r.close()
			if !r.draining {
				s.seen[r.path] = true
			}
			continue
		}
		kept = append(kept, r)
	}
	s.readers = kept
}

// scan opens files matching the pattern that are not open yet.
func (s *Source) scan() error {
	var paths []string
	if s.glob {
		m, err := filepath.Glob(s.pattern)
		if err != nil {
			return fmt.Errorf("file pattern %q: %w", s.pattern, err)
		}
		paths = m
	} else {
		paths = []string{s.pattern}
	}
	sort.Strings(paths)
	open := map[string]bool{}
	ids := map[fileID]bool{}
	for _, r := range s.readers {
		ids[r.id] = true
		if !r.draining {
			open[r.path] = true
		}
	}
	for _, path := range paths {
		if open[path] || (!s.tail && s.seen[path]) {
			continue
		}
		r, fi, err := openReader(path, s.split, s.maxLen)
		if errors.Is(err, os.ErrNotExist) {
			if !s.glob && !s.warnedMissing {
				s.log.Info("file does not exist (yet); waiting for it", "path", path)
				s.warnedMissing = true
			}
			continue
		}
		if err != nil {
			if s.glob {
				s.log.Warn("skipping file", "path", path, "err", err)
				continue
			}
			return fmt.Errorf("open %s: %w", path, err)
		}
		if ids[r.id] {
			r.close() // the same file under another name, already open
			continue
		}
		if err := s.resume(r, fi); err != nil {
			r.close()
			return err
		}
		s.readers = append(s.readers, r)
		ids[r.id] = true
	}
	return nil
}

// resume positions a newly opened file: at its committed position when the
// identity and fingerprint match (by path, or by identity after a rename),
// and, for a file never seen, at the start (or the end with read.from=end).
// A file that rotated away while the worker was down is found in the same
// directory by its identity and drained first.
func (s *Source) resume(r *fileReader, fi os.FileInfo) error {
	p, ok := s.byID[r.id]
	if ok && s.matches(r, fi, p) {
		r.seek(p.Offset, p.Line)
		r.header = p.Header
		r.fpSum, r.fpLen = p.Fingerprint, p.FPLen
		return nil
	}
	if old, had := s.committed[r.path]; had && old.fileID != r.id {
		s.drainRotated(r.path, old)
	}
	if ok {
		s.log.Warn("file identity reused by a different file; reading from the start", "path", r.path)
	}
	if s.fromEnd && !ok {
		r.seek(fi.Size(), 0)
		r.needsHead = fi.Size() == 0
		return nil
	}
	r.seek(0, 0)
	return nil
}

// matches reports whether position p still describes the open file.
func (s *Source) matches(r *fileReader, fi os.FileInfo, p filePos) bool {
	if fi.Size() < p.Offset {
		return false // truncated
	}
	if p.FPLen == 0 {
		return true
	}
	sum, n, err := fingerprint(r.f, p.FPLen)
	return err == nil && n == p.FPLen && sum == p.Fingerprint
}

// drainRotated looks in path's directory for the file that had path when
// the position was stored and, if it has unread bytes, opens it to be read
// to its end before path's new file.
func (s *Source) drainRotated(path string, old filePos) {
	dir := filepath.Dir(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		full := filepath.Join(dir, e.Name())
		if full == path {
			continue
		}
		fi, err := os.Stat(full)
		if err != nil || !fi.Mode().IsRegular() || idOf(fi) != old.fileID || fi.Size() <= old.Offset {
			continue
		}
		r, fi, err := openReader(full, s.split, s.maxLen)
		if err != nil || !s.matches(r, fi, old) {
			if r != nil {
				r.close()
			}
			continue
		}
		s.log.Info("draining rotated file", "path", full, "was", path, "offset", old.Offset)
		r.seek(old.Offset, old.Line)
		r.header, r.fpSum, r.fpLen = old.Header, old.Fingerprint, old.FPLen
		r.path = path // positions stay keyed by the original name
		r.draining = true
		s.readers = append([]*fileReader{r}, s.readers...)
		return
	}
}

// Commit implements connectors.Source; positions are stored by the worker.
func (s *Source) Commit(ctx context.Context, positions []connectors.Position) error { return nil }

// Close implements connectors.Source.
func (s *Source) Close(ctx context.Context) error {
	for _, r := range s.readers {
		r.close()
	}
	s.readers = nil
	return nil
}
