package storage

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// pendingFlushChild appends like crashChild with every background flush
// of a rolled segment held forever, so the process is killed with rolled
// segments whose data, index files and producer snapshots were never
// flushed by the flusher.
func pendingFlushChild(dir string) int {
	hold := make(chan struct{})
	opt := Options{Logger: quietLogger(), hooks: &testHooks{beforeSegmentFlush: func(int64) { <-hold }}}
	return appendChild(dir, opt, 3)
}

// TestCrashWithPendingBackgroundFlush kills (SIGKILL) a real process
// whose rolled segments are all still waiting for their background flush,
// several times over the same directory: every acknowledged batch
// (fsync on every batch) survives byte for byte, the segments' indexes
// and producer state are rebuilt, and the retried last batch is still
// recognised as a duplicate.
func TestCrashWithPendingBackgroundFlush(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	var acked []ack
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"=pendingflush:"+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		ready := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 1 && f[0] == "ready" {
				ready = true
				break
			}
			if len(f) != 4 || f[0] != "ack" {
				continue
			}
			i, _ := strconv.Atoi(f[1])
			b, _ := strconv.ParseInt(f[2], 10, 64)
			l, _ := strconv.ParseInt(f[3], 10, 64)
			acked = append(acked, ack{i, b, l})
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if !ready {
			t.Fatalf("round %d: child stopped before rolling: %s", round, stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dir, segmentName(0)+extIndex)); round == 0 && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the first rolled segment has an index file, so its flush was not held: %v", err)
		}
		verifyCrashLog(t, dir, acked, -1, round)
	}
	t.Logf("%d acknowledged batches", len(acked))
}
