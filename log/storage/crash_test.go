package storage

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "SLUICE_STORAGE_CRASH_CHILD"

// crashConfig is the child's topic config: fsync every batch, small
// segments so rolls (and crashes during rolls) happen often.
func crashConfig() Config {
	cfg := DefaultConfig()
	cfg.FlushMessages = 1
	cfg.SegmentBytes = 48 << 10
	cfg.IndexIntervalBytes = 1024
	return cfg
}

// crashBatch is the deterministic content of the i-th batch of the crash
// test's log, as produced (base offset 0, no leader epoch). Every batch
// comes from idempotent producer 1 with its sequence equal to the offset
// it lands at, so producer state must survive every crash.
func crashBatch(i int, seq int64) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	n := 1 + r.IntN(8)
	rs := make([]rec, n)
	for j := range rs {
		v := make([]byte, 50+r.IntN(600))
		for k := range v {
			v[k] = byte(r.Uint32())
		}
		rs[j] = rec{Key: []byte(fmt.Sprintf("k%d-%d", i, j)), Value: v, TsDelta: int64(j)}
	}
	return makeBatch(fakeTB{}, batchSpec{Records: rs, BaseTimestamp: 1_700_000_000_000 + int64(i), ProducerID: 1, BaseSequence: int32(seq), Codec: []int{codecNone, codecLZ4, codecGzip}[i%3]})
}

// crashChild opens the log (recovering it), retries the last batch in the
// log (which must be recognised as a duplicate), then appends batch after
// batch with fsync on every batch, printing "ack <index> <base> <last>"
// after each Append returns. It runs until killed.
func crashChild(dir string) int {
	if d, ok := strings.CutPrefix(dir, "compact:"); ok {
		return compactChild(d)
	}
	if d, ok := strings.CutPrefix(dir, "pendingflush:"); ok {
		return pendingFlushChild(d)
	}
	return appendChild(dir, Options{Logger: quietLogger()}, -1)
}

// appendChild is crashChild's loop; with stopAfterRolls >= 0 it prints
// "ready" once the log has rolled that many times and then waits to be
// killed.
func appendChild(dir string, opt Options, stopAfterRolls int) int {
	l, err := Open(dir, crashConfig(), opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	// The next batch index is the number of batches in the log.
	idx := 0
	var lastBase, lastEnd int64 = -1, -1
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil || len(res.Data) == 0 {
			fmt.Fprintln(os.Stderr, "scan:", err)
			return 2
		}
		for d := res.Data; len(d) > 0; {
			h := parseHeader(d)
			idx++
			lastBase, lastEnd = h.BaseOffset, h.LastOffset()
			off = h.LastOffset() + 1
			d = d[h.Size():]
		}
	}
	if idx > 0 {
		info, err := l.Append(crashBatch(idx-1, lastBase), AppendOptions{LeaderEpoch: 3})
		if err != nil || !info.Duplicate || info.BaseOffset != lastBase || info.LastOffset != lastEnd {
			fmt.Fprintf(os.Stderr, "retry of batch %d at %d: %+v, %v\n", idx-1, lastBase, info, err)
			return 3
		}
	}
	segs := l.SegmentCount()
	for ; ; idx++ {
		info, err := l.Append(crashBatch(idx, l.LogEndOffset()), AppendOptions{LeaderEpoch: 3})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			return 2
		}
		fmt.Fprintf(os.Stdout, "ack %d %d %d\n", idx, info.BaseOffset, info.LastOffset)
		if stopAfterRolls >= 0 && l.SegmentCount()-segs >= stopAfterRolls {
			fmt.Fprintln(os.Stdout, "ready")
			select {} // until killed
		}
	}
}

// fakeTB lets test helpers run in the child, outside a test.
type fakeTB struct{ testing.TB }

func (fakeTB) Helper()                   {}
func (fakeTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (fakeTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

type ack struct {
	idx        int
	base, last int64
}

// TestCrashRecovery kills a real appending process with SIGKILL at random
// moments, sometimes damages the unacknowledged tail the way a torn write
// would, reopens the log, and checks that every acknowledged batch is
// there byte for byte and that nothing at or after a corrupt point is
// served.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Log("short mode: few rounds")
	}
	rounds := 40
	if testing.Short() {
		rounds = 6
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	var acked []ack // across all rounds
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(5+rng.IntN(250)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		var got []ack
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ack" {
				continue // a line torn by the kill
			}
			i, _ := strconv.Atoi(f[1])
			b, _ := strconv.ParseInt(f[2], 10, 64)
			l, _ := strconv.ParseInt(f[3], 10, 64)
			got = append(got, ack{i, b, l})
		}
		timer.Stop()
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child did not die by SIGKILL: %v\n%s", round, err, stderr.String())
		}
		acked = append(acked, got...)

		// Sometimes damage the tail beyond the last acknowledged batch;
		// batches at or after a corrupted one must not be served. Torn
		// writes only happen to a writer that crashed, so in-place damage
		// (mode 3) is applied only when this round's child got as far as
		// appending: if it died while opening, the log is still as the
		// last clean Close left it, and in-place damage would be bit rot,
		// which Read reports instead (TestCorruptBatchIsNeverServed).
		mode := rng.IntN(4)
		if mode == 3 && len(got) == 0 {
			mode = 0
		}
		corruptAt := damageTail(t, dir, acked, mode, rng)
		verifyCrashLog(t, dir, acked, corruptAt, round)
	}
	t.Logf("%d rounds, %d acknowledged batches", rounds, len(acked))
	if len(acked) == 0 {
		t.Fatal("no batch was ever acknowledged; the test proved nothing")
	}
}

// damageTail applies one of: 0 nothing, 1 truncate at a random point past
// the acknowledged data, 2 append garbage, 3 flip a byte in an
// unacknowledged batch. For 3 it returns the index of the damaged batch
// (recovery must not serve it or anything after it), else -1.
func damageTail(t *testing.T, dir string, acked []ack, mode int, rng *rand.Rand) int {
	if mode == 0 {
		return -1
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+extLog))
	sort.Strings(segs)
	if len(segs) == 0 {
		return -1
	}
	last := segs[len(segs)-1]
	data, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	// Find the end of the last acknowledged batch in this file, and the
	// indexes of the batches after it.
	lastAcked := int64(-1)
	if len(acked) > 0 {
		lastAcked = acked[len(acked)-1].last
	}
	safe := 0
	type span struct {
		pos, end int
		base     int64
	}
	var after []span
	for p := 0; p < len(data); {
		h, err := validateBatch(data[p:], 1<<30, false)
		if err != nil {
			break
		}
		if h.LastOffset() <= lastAcked {
			safe = p + h.Size()
		} else {
			after = append(after, span{p, p + h.Size(), h.BaseOffset})
		}
		p += h.Size()
	}
	switch mode {
	case 1:
		if len(data) > safe {
			os.Truncate(last, int64(safe+rng.IntN(len(data)-safe)))
		}
	case 2:
		g := make([]byte, 1+rng.IntN(3000))
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
		f.Write(g)
		f.Close()
	case 3:
		if len(after) == 0 {
			return -1
		}
		k := rng.IntN(len(after))
		s := after[k]
		p := s.pos + 17 + rng.IntN(s.end-s.pos-17) // CRC-covered bytes (or the CRC)
		data[p] ^= byte(1 + rng.IntN(255))
		if err := os.WriteFile(last, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Which batch index is that? Count batches before it in the log.
		return batchIndexAt(t, dir, s.base)
	}
	return -1
}

// batchIndexAt returns the crash-log batch index of the batch at base: the
// batch indexes are dense, so it is the number of batches before it.
func batchIndexAt(t *testing.T, dir string, base int64) int {
	n := 0
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+extLog))
	for _, s := range segs {
		data, _ := os.ReadFile(s)
		for p := 0; p < len(data); {
			h, err := validateBatch(data[p:], 1<<30, false)
			if err != nil || h.BaseOffset >= base {
				break
			}
			n++
			p += h.Size()
		}
	}
	return n
}

func verifyCrashLog(t *testing.T, dir string, acked []ack, corruptIdx, round int) {
	t.Helper()
	l, err := Open(dir, crashConfig(), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer l.Close()
	var served [][]byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		res, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("round %d: read at %d: %v", round, off, err)
		}
		if len(res.Data) == 0 {
			t.Fatalf("round %d: nothing served at %d below LEO %d", round, off, l.LogEndOffset())
		}
		for d := res.Data; len(d) > 0; {
			h, err := validateBatch(d, 1<<30, false)
			if err != nil {
				t.Fatalf("round %d: served an invalid batch at offset %d: %v", round, off, err)
			}
			if h.BaseOffset != off {
				t.Fatalf("round %d: batch at %d, expected %d (offsets must be dense)", round, h.BaseOffset, off)
			}
			served = append(served, d[:h.Size()])
			off = h.LastOffset() + 1
			d = d[h.Size():]
		}
	}
	// Every served batch is exactly the batch of its index.
	off := int64(0)
	for i, b := range served {
		want := crashBatch(i, off)
		setBaseOffset(want, off)
		setLeaderEpoch(want, 3)
		if !bytes.Equal(b, want) {
			t.Fatalf("round %d: batch %d at offset %d differs from what was appended", round, i, off)
		}
		off += int64(parseHeader(want).LastOffsetDelta) + 1
	}
	for _, a := range acked {
		if a.idx >= len(served) {
			t.Fatalf("round %d: acknowledged batch %d (offsets %d-%d) lost; %d batches survive", round, a.idx, a.base, a.last, len(served))
		}
	}
	if corruptIdx >= 0 && len(served) > corruptIdx {
		t.Fatalf("round %d: batch %d was corrupted but %d batches are served", round, corruptIdx, len(served))
	}
}
