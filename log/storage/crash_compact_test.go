package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The compaction crash test: a child appends keyed records (fsync every
// batch) and runs compaction every few appends with tiny segments, so
// SIGKILL often lands in the middle of a cleaning pass or its swap. After
// each kill the log must open, serve only records exactly as appended at
// their offsets, and still hold, for every key, its newest acknowledged
// record or a later one.

func compactCrashConfig() Config {
	cfg := DefaultConfig()
	cfg.CleanupCompact, cfg.CleanupDelete = true, false
	cfg.FlushMessages = 1
	cfg.SegmentBytes = 6 << 10
	cfg.MinCleanableRatio = 0
	cfg.DeleteRetention = 0
	cfg.IndexIntervalBytes = 256
	return cfg
}

// The record at offset o is fully determined by o.
func ccKey(o int64) []byte { return []byte(fmt.Sprintf("key-%d", (o*7)%23)) }
func ccValue(o int64) []byte {
	if o%11 == 0 {
		return nil // a tombstone
	}
	return bytes.Repeat([]byte(fmt.Sprintf("v%d.", o)), 1+int(o%9))
}

func ccBatch(base int64) []byte {
	n := 1 + int(base%4)
	rs := make([]rec, n)
	for i := range rs {
		o := base + int64(i)
		rs[i] = rec{Key: ccKey(o), Value: ccValue(o)}
	}
	return makeBatch(fakeTB{}, batchSpec{Records: rs, BaseTimestamp: time.Now().UnixMilli(), ProducerID: -1, Codec: []int{codecNone, codecSnappy, codecZstd}[base%3]})
}

func compactChild(dir string) int {
	l, err := Open(dir, compactCrashConfig(), Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	for i := 1; ; i++ {
		info, err := l.Append(ccBatch(l.LogEndOffset()), AppendOptions{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			return 2
		}
		fmt.Fprintf(os.Stdout, "ack %d %d\n", info.BaseOffset, info.LastOffset)
		if i%4 == 0 {
			l.SetHighWatermark(l.LogEndOffset())
			if err := l.Maintain(time.Now()); err != nil {
				fmt.Fprintln(os.Stderr, "maintain:", err)
				return 2
			}
		}
	}
}

func TestCrashDuringCompaction(t *testing.T) {
	rounds := 25
	if testing.Short() {
		rounds = 4
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	newestAcked := map[string]int64{} // key -> newest acknowledged offset
	lastAcked := int64(-1)
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=compact:"+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(time.Duration(20+rng.IntN(300))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 3 || f[0] != "ack" {
				continue
			}
			b, _ := strconv.ParseInt(f[1], 10, 64)
			e, _ := strconv.ParseInt(f[2], 10, 64)
			for o := b; o <= e; o++ {
				newestAcked[string(ccKey(o))] = o
			}
			lastAcked = e
		}
		timer.Stop()
		cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child did not die by SIGKILL\n%s", round, stderr.String())
		}
		l, err := Open(dir, compactCrashConfig(), Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if l.LogEndOffset() <= lastAcked {
			t.Fatalf("round %d: log end %d, but %d was acknowledged", round, l.LogEndOffset(), lastAcked)
		}
		servedNewest := map[string]int64{}
		last := int64(-1)
		for off := l.LogStartOffset(); off < l.LogEndOffset(); {
			res, err := l.Read(off, 1<<20, l.LogEndOffset())
			if err != nil {
				t.Fatalf("round %d: read %d: %v", round, off, err)
			}
			if len(res.Data) == 0 {
				break
			}
			for d := res.Data; len(d) > 0; {
				h, err := validateBatch(d, 1<<30, false)
				if err != nil {
					t.Fatalf("round %d: served invalid batch: %v", round, err)
				}
				body, err := decompress(h.Codec(), d[batchHeaderSize:h.Size()], 1<<30)
				if err != nil {
					t.Fatal(err)
				}
				err = forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
					o := h.BaseOffset + int64(r.OffsetDelta)
					if o <= last {
						return fmt.Errorf("offset %d after %d", o, last)
					}
					last = o
					if !bytes.Equal(r.Key, ccKey(o)) || !bytes.Equal(r.Value, ccValue(o)) || (r.Value == nil) != (ccValue(o) == nil) {
						return fmt.Errorf("record at %d is not what was appended there", o)
					}
					servedNewest[string(r.Key)] = o
					return nil
				})
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				off = h.LastOffset() + 1
				d = d[h.Size():]
			}
		}
		for k, o := range newestAcked {
			got, ok := servedNewest[k]
			if ccValue(o) == nil && !ok {
				continue // a tombstone may be gone
			}
			if !ok || got < o {
				t.Fatalf("round %d: key %s: newest served offset %d (present %v), acknowledged %d", round, k, got, ok, o)
			}
		}
		l.Close()
	}
	t.Logf("%d rounds, log end %d", rounds, lastAcked+1)
}
