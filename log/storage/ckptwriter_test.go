package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func readCheckpointFile(t *testing.T, dir string) checkpoint {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := decodeCheckpoint(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPeriodicCheckpointDoesNotBlockAppends: while maintenance writes the
// periodic checkpoint (held inside the write by a hook), appends and reads
// go on; the checkpoint written is the snapshot taken when it was due.
func TestPeriodicCheckpointDoesNotBlockAppends(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}), make(chan struct{})
	hold := false
	hk := &testHooks{beforeCheckpoint: func() {
		if hold {
			hold = false
			close(entered)
			<-release
		}
	}}
	l, err := Open(dir, DefaultConfig(), Options{Logger: testLogger(t), hooks: hk})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(simpleBatch(t, 3, "a", 1000), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())

	hold = true
	done := make(chan error, 1)
	go func() { done <- l.maintainFast(time.Now().Add(time.Hour), false) }()
	<-entered
	appended := make(chan error, 1)
	go func() {
		_, err := l.Append(simpleBatch(t, 2, "b", 2000), AppendOptions{})
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		close(release)
		t.Fatal("an append waited for the periodic checkpoint's write")
	}
	if got := l.LogEndOffset(); got != 5 {
		t.Fatalf("log end %d during the checkpoint write, want 5", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := readCheckpointFile(t, dir); c.HighWatermark != 3 {
		t.Fatalf("checkpoint high watermark %d, want the snapshot's 3", c.HighWatermark)
	}
}

// TestCheckpointNeverGoesBack: a snapshot written after a newer one
// reached the file (the periodic write racing a synchronous one) is
// dropped.
func TestCheckpointNeverGoesBack(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultConfig(), Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(simpleBatch(t, 4, "a", 1000), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(2)
	l.wmu.Lock()
	old, oldSeq := l.snapshotCheckpointLocked()
	l.wmu.Unlock()

	l.SetHighWatermark(4)
	l.wmu.Lock()
	err = l.writeCheckpointLocked(false)
	l.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ckpt.write(l, old, oldSeq, true); err != nil {
		t.Fatal(err)
	}
	if c := readCheckpointFile(t, dir); c.HighWatermark != 4 {
		t.Fatalf("checkpoint high watermark %d: an older snapshot replaced a newer one", c.HighWatermark)
	}
}
