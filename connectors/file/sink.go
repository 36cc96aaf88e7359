package file

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/internal/jsonscan"
)

// Sink writes record values to a file, rotating it by size and age. See the
// package doc for its crash guarantees.
type Sink struct {
	log        *slog.Logger
	path       string // the active file
	format     string
	maxBytes   int64
	maxAge     time.Duration
	columns    []string
	csvHeader  bool
	comma      rune
	nullStr    string
	checkpoint string // path of the checkpoint file

	f *os.File
	// pend holds encoded lines not yet written to f. Write hands each
	// batch to the file in one write call at its end (readers of the file
	// see records as soon as they are written; they are durable at Flush).
	pend     []byte
	line     bytes.Buffer // one encoded value, reused
	size     int64        // bytes in the active file (pending included)
	opened   time.Time
	seq      int // number of the next rotated file
	offsets  connectors.Offsets
	dirty    bool
	wroteHdr bool
	broken   bool
}

// maxPending bounds the bytes a Write collects before writing them to the
// file, so a huge batch does not hold a huge buffer.
const maxPending = 1 << 20

var (
	_ connectors.Sink        = (*Sink)(nil)
	_ connectors.OffsetStore = (*Sink)(nil)
	_ connectors.BatchReuser = (*Sink)(nil)
)

// ReuseBatches implements connectors.BatchReuser: Write copies what it
// writes into its own buffer and keeps nothing of the batch.
func (s *Sink) ReuseBatches() bool { return true }

// sinkCheckpoint is what the sink fsyncs beside its file before reporting
// offsets durable: the active file's length and the offsets it includes.
type sinkCheckpoint struct {
	Size    int64            `json:"size"`
	Seq     int              `json:"seq"`
	Offsets map[string]int64 `json:"offsets"` // "topic/partition" → next offset
}

// Open implements connectors.Sink: it reads the checkpoint, completes an
// interrupted rotation, and cuts the active file back to the checkpoint.
func (s *Sink) Open(ctx context.Context, task connectors.TaskInfo, cfg connectors.Config) error {
	s.log = task.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.path = cfg.String("file")
	if task.Task > 0 {
		ext := filepath.Ext(s.path)
		s.path = strings.TrimSuffix(s.path, ext) + "-task" + strconv.Itoa(task.Task) + ext
	}
	s.format = cfg.String("format")
	s.maxBytes = cfg.Int("rotate.bytes")
	s.maxAge = cfg.Duration("rotate.interval")
	s.columns = cfg.List("csv.columns")
	s.csvHeader = cfg.Bool("csv.header")
	s.comma = ','
	if c := cfg.String("csv.delimiter"); c != "" {
		s.comma = []rune(c)[0]
	}
	s.nullStr = cfg.String("csv.null.string")
	s.checkpoint = filepath.Join(filepath.Dir(s.path), "."+filepath.Base(s.path)+".checkpoint")
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	cp, err := s.readCheckpoint()
	if err != nil {
		return err
	}
	s.seq = cp.Seq
	s.offsets = connectors.Offsets{}
	for k, o := range cp.Offsets {
		tp, err := parseTP(k)
		if err != nil {
			return fmt.Errorf("file sink checkpoint %s: %w", s.checkpoint, err)
		}
		s.offsets[tp] = o
	}
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if cp.Size > 0 {
			// Crashed after renaming the active file away but before the
			// checkpoint said so: the rotation is complete.
			if _, err := os.Stat(s.rotatedName(cp.Seq)); err != nil {
				return fmt.Errorf("file sink: %s is missing but the checkpoint says it held %d bytes", s.path, cp.Size)
			}
			s.seq = cp.Seq + 1
		}
	case err != nil:
		return fmt.Errorf("file sink: %w", err)
	case fi.Size() < cp.Size:
		return fmt.Errorf("file sink: %s has %d bytes but the checkpoint says %d were fsynced; refusing to guess", s.path, fi.Size(), cp.Size)
	case fi.Size() > cp.Size:
		s.log.Info("cutting unacknowledged tail written before a crash", "path", s.path, "size", fi.Size(), "checkpoint", cp.Size)
		if err := os.Truncate(s.path, cp.Size); err != nil {
			return fmt.Errorf("file sink: %w", err)
		}
	}
	return s.openActive()
}

func (s *Sink) rotatedName(seq int) string {
	ext := filepath.Ext(s.path)
	return fmt.Sprintf("%s.%06d%s", strings.TrimSuffix(s.path, ext), seq, ext)
}

func (s *Sink) openActive() error {
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.size, s.opened = f, fi.Size(), time.Now()
	s.pend = s.pend[:0]
	s.wroteHdr = s.size > 0
	return nil
}

func (s *Sink) readCheckpoint() (sinkCheckpoint, error) {
	var cp sinkCheckpoint
	b, err := os.ReadFile(s.checkpoint)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("file sink checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, fmt.Errorf("file sink checkpoint %s is corrupt: %w", s.checkpoint, err)
	}
	return cp, nil
}

func tpKey(tp connectors.TopicPartition) string {
	return tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

func parseTP(k string) (connectors.TopicPartition, error) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return connectors.TopicPartition{}, fmt.Errorf("bad partition key %q", k)
	}
	p, err := strconv.ParseInt(k[i+1:], 10, 32)
	if err != nil {
		return connectors.TopicPartition{}, fmt.Errorf("bad partition key %q", k)
	}
	return connectors.TopicPartition{Topic: k[:i], Partition: int32(p)}, nil
}

// writeCheckpoint atomically replaces the checkpoint (write, fsync,
// rename, fsync the directory).
func (s *Sink) writeCheckpoint() error {
	cp := sinkCheckpoint{Size: s.size, Seq: s.seq, Offsets: map[string]int64{}}
	for tp, o := range s.offsets {
		cp.Offsets[tpKey(tp)] = o
	}
	b, _ := json.Marshal(cp)
	tmp := s.checkpoint + ".tmp"
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.checkpoint); err != nil {
		return err
	}
	return syncDir(filepath.Dir(s.checkpoint))
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// StoredOffsets implements connectors.OffsetStore: the offsets in the
// checkpoint, which match the file's contents after Open cut it back.
func (s *Sink) StoredOffsets(ctx context.Context, partitions []connectors.TopicPartition) (connectors.Offsets, error) {
	out := connectors.Offsets{}
	for _, tp := range partitions {
		if o, ok := s.offsets[tp]; ok {
			out[tp] = o
		}
	}
	return out, nil
}

// Write implements connectors.Sink. Values that cannot be written in the
// format (not JSON for json, not an object for csv, a newline in text) are
// refused with *connectors.RecordErrors; tombstones are skipped. The batch
// reaches the file (not yet fsynced) before Write returns.
func (s *Sink) Write(ctx context.Context, batch []connectors.Record) error {
	var refused connectors.RecordErrors
	// Records come in runs of one partition: look its offset up once a run.
	var (
		tp      connectors.TopicPartition
		next    int64 // next offset of tp not yet in the file
		known   bool  // next is set
		started bool
	)
	for i := range batch {
		r := &batch[i]
		if !started || r.Partition != tp.Partition || r.Topic != tp.Topic {
			if known {
				s.offsets[tp] = next
			}
			tp, started = connectors.TopicPartition{Topic: r.Topic, Partition: r.Partition}, true
			next, known = s.offsets[tp]
		}
		if known && r.Offset < next {
			continue // already in the file (redelivered after a retry)
		}
		if r.Value != nil {
			if line, err := s.encode(r.Value); err != nil {
				refused.Add(i, err)
			} else if err := s.append(line); err != nil {
				return err
			}
		}
		next, known = r.Offset+1, true
		s.dirty = true
	}
	if known {
		s.offsets[tp] = next
	}
	if err := s.writePending(); err != nil {
		return err
	}
	if s.maxAge > 0 && time.Since(s.opened) >= s.maxAge && s.size > 0 {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	return refused.Err()
}

// append writes line and a line break, rotating first when the file would
// grow past rotate.bytes.
func (s *Sink) append(line []byte) error {
	if s.maxBytes > 0 && s.size > 0 && s.size+int64(len(line))+1 > s.maxBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if s.format == FormatCSV && s.csvHeader && !s.wroteHdr {
		var h bytes.Buffer
		w := csv.NewWriter(&h)
		w.Comma = s.comma
		_ = w.Write(s.columns)
		w.Flush()
		if err := s.writeAll(h.Bytes()); err != nil {
			return err
		}
	}
	if s.broken {
		return errBroken
	}
	s.pend = append(append(s.pend, line...), '\n')
	s.size += int64(len(line)) + 1
	s.wroteHdr = true
	if len(s.pend) >= maxPending {
		return s.writePending()
	}
	return nil
}

// errBroken is returned after a write to the file failed: what is in the
// file past the checkpoint is unknown, so the task must restart (Open cuts
// the file back to the checkpoint and the worker redelivers from there).
var errBroken = errors.New("file sink: an earlier write failed; restart the task")

// writeAll adds b to the pending bytes, writing them out when they pass
// maxPending.
func (s *Sink) writeAll(b []byte) error {
	if s.broken {
		return errBroken
	}
	s.pend = append(s.pend, b...)
	s.size += int64(len(b))
	s.wroteHdr = s.wroteHdr || len(b) > 0
	if len(s.pend) >= maxPending {
		return s.writePending()
	}
	return nil
}

// writePending writes the pending bytes to the file.
func (s *Sink) writePending() error {
	if s.broken {
		return errBroken
	}
	if len(s.pend) == 0 {
		return nil
	}
	_, err := s.f.Write(s.pend)
	if err != nil {
		s.broken = true
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if cap(s.pend) > 2*maxPending {
		s.pend = nil // one huge record: do not keep its buffer
	}
	s.pend = s.pend[:0]
	return nil
}

// sync writes the pending bytes out and fsyncs the file.
func (s *Sink) sync() error {
	if err := s.writePending(); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		s.broken = true
		return fmt.Errorf("fsync %s: %w", s.path, err)
	}
	return nil
}

// rotate makes the active file durable, checkpoints, renames it to the next
// rotated name and starts a new active file.
func (s *Sink) rotate() error {
	if err := s.sync(); err != nil {
		return err
	}
	if err := s.writeCheckpoint(); err != nil {
		return fmt.Errorf("file sink checkpoint: %w", err)
	}
	if err := s.f.Close(); err != nil {
		return err
	}
	s.f = nil
	if err := os.Rename(s.path, s.rotatedName(s.seq)); err != nil {
		return fmt.Errorf("rotate %s: %w", s.path, err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	s.seq++
	if err := s.openActive(); err != nil {
		return err
	}
	return s.writeCheckpoint()
}

// Flush implements connectors.Sink: fsync the file, then the checkpoint.
func (s *Sink) Flush(ctx context.Context, written connectors.Offsets) (connectors.Offsets, error) {
	if s.maxAge > 0 && time.Since(s.opened) >= s.maxAge && s.size > 0 {
		if err := s.rotate(); err != nil {
			return nil, err
		}
	}
	if s.dirty {
		if err := s.sync(); err != nil {
			return nil, err
		}
		if err := s.writeCheckpoint(); err != nil {
			return nil, connectors.Retriable(fmt.Errorf("file sink checkpoint: %w", err))
		}
		s.dirty = false
	}
	out := connectors.Offsets{}
	for tp, o := range s.offsets {
		out[tp] = o
	}
	return out, nil
}

// Close implements connectors.Sink. Unflushed writes are cut back on the
// next Open, and redelivered.
func (s *Sink) Close(ctx context.Context) error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// encode returns value as one line of the sink's format, without the line
// break: value itself (or the part without surrounding space) when it
// needs no change, else bytes in s.line, valid until the next call.
func (s *Sink) encode(value []byte) ([]byte, error) {
	switch s.format {
	case FormatText:
		if bytes.IndexByte(value, '\n') >= 0 || bytes.IndexByte(value, '\r') >= 0 {
			return nil, errors.New("text value contains a line break")
		}
		return value, nil
	case FormatCSV:
		s.line.Reset()
		if err := s.encodeCSV(&s.line, value); err != nil {
			return nil, err
		}
		return bytes.TrimSuffix(s.line.Bytes(), []byte{'\n'}), nil
	}
	v := bytes.TrimSpace(value)
	compact, err := jsonscan.ValidateCompact(v, jsonscan.MaxDepth)
	if err != nil {
		return nil, fmt.Errorf("value is not valid JSON: %w", err)
	}
	// A valid value has raw line breaks only between tokens (a string
	// cannot hold one unescaped), and those must go to keep one per line.
	if compact || bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return v, nil
	}
	s.line.Reset()
	if err := json.Compact(&s.line, v); err != nil {
		return nil, err
	}
	return s.line.Bytes(), nil
}

func (s *Sink) encodeCSV(b *bytes.Buffer, value []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil {
		return fmt.Errorf("csv: value is not a JSON object: %v", err)
	}
	if len(s.columns) == 0 {
		// No columns configured: take them from the first record, sorted.
		for k := range obj {
			s.columns = append(s.columns, k)
		}
		sort.Strings(s.columns)
	}
	row := make([]string, len(s.columns))
	for i, c := range s.columns {
		raw, ok := obj[c]
		if !ok || string(raw) == "null" {
			row[i] = s.nullStr
			continue
		}
		var str string
		if json.Unmarshal(raw, &str) == nil {
			row[i] = str
		} else {
			row[i] = string(raw)
		}
	}
	w := csv.NewWriter(b)
	w.Comma = s.comma
	if err := w.Write(row); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}
