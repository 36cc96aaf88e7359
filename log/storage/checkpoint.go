package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// writeFileAtomic replaces path with data: write a temporary file, fsync
// it, rename it over path, and (when syncParent) fsync the directory so the
// rename itself is durable. A crash leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, syncParent bool) error {
	tmp := path + extTmp
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	if syncParent {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = unix.Fdatasync(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// checkpointFile holds a partition's offsets that must survive restarts.
// Text, one "key value" per line, ending in a CRC-32C line over the lines
// before it, so a torn or edited file is detected and ignored (recovery then
// falls back to a full scan, which is always safe).
const checkpointFile = "partition.checkpoint"

type checkpoint struct {
	RecoveryPoint  int64 // every offset below is fsynced and validated
	HighWatermark  int64
	LogStartOffset int64
	CleanerPoint   int64 // offsets below were compacted
	// Set only by a clean Close: the active segment's base and size when
	// its index files were written, so the next open can trust it
	// without re-reading it. Any later change to the log rewrites the
	// checkpoint without them.
	CleanActiveBase int64
	CleanActiveSize int64
	Clean           bool
}

func (c checkpoint) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "sluice-partition-checkpoint 1\n")
	fmt.Fprintf(&b, "recovery-point %d\n", c.RecoveryPoint)
	fmt.Fprintf(&b, "high-watermark %d\n", c.HighWatermark)
	fmt.Fprintf(&b, "log-start-offset %d\n", c.LogStartOffset)
	fmt.Fprintf(&b, "cleaner-point %d\n", c.CleanerPoint)
	if c.Clean {
		fmt.Fprintf(&b, "clean-active-base %d\n", c.CleanActiveBase)
		fmt.Fprintf(&b, "clean-active-size %d\n", c.CleanActiveSize)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), crcTable))
	return b.Bytes()
}

func decodeCheckpoint(data []byte) (checkpoint, error) {
	var c checkpoint
	i := bytes.LastIndex(data, []byte("crc32c "))
	if i < 0 {
		return c, fmt.Errorf("no crc32c line")
	}
	want, err := strconv.ParseUint(strings.TrimSpace(string(data[i+7:])), 16, 32)
	if err != nil {
		return c, fmt.Errorf("bad crc32c line: %v", err)
	}
	if got := crc32.Checksum(data[:i], crcTable); uint32(want) != got {
		return c, fmt.Errorf("crc32c mismatch: stored %08x, computed %08x", want, got)
	}
	sc := bufio.NewScanner(bytes.NewReader(data[:i]))
	seen := map[string]bool{}
	for line := 0; sc.Scan(); line++ {
		k, v, _ := strings.Cut(sc.Text(), " ")
		if line == 0 {
			if k != "sluice-partition-checkpoint" || v != "1" {
				return c, fmt.Errorf("unknown header %q", sc.Text())
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return c, fmt.Errorf("line %d: bad value %q", line+1, v)
		}
		switch k {
		case "recovery-point":
			c.RecoveryPoint = n
		case "high-watermark":
			c.HighWatermark = n
		case "log-start-offset":
			c.LogStartOffset = n
		case "cleaner-point":
			c.CleanerPoint = n
		case "clean-active-base":
			c.CleanActiveBase, c.Clean = n, true
			continue
		case "clean-active-size":
			c.CleanActiveSize = n
			continue
		default:
			continue
		}
		seen[k] = true
	}
	if len(seen) < 4 {
		return c, fmt.Errorf("missing keys")
	}
	return c, nil
}

// epochFile is the leader-epoch cache, in Kafka's leader-epoch-checkpoint
// format: version line "0", count line, then "epoch startOffset" lines.
const epochFile = "leader-epoch-checkpoint"

func encodeEpochs(es []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

func decodeEpochs(data []byte) ([]epochEntry, error) {
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("bad version line")
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("count %q does not match %d entries", lines[1], len(lines)-2)
	}
	es := make([]epochEntry, 0, n)
	for i, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: %q", i+3, l)
		}
		ep, err1 := strconv.ParseInt(f[0], 10, 32)
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || ep < 0 || off < 0 {
			return nil, fmt.Errorf("line %d: %q", i+3, l)
		}
		if len(es) > 0 && (int32(ep) <= es[len(es)-1].Epoch || off < es[len(es)-1].StartOffset) {
			return nil, fmt.Errorf("line %d: entries not increasing", i+3)
		}
		es = append(es, epochEntry{Epoch: int32(ep), StartOffset: off})
	}
	return es, nil
}
