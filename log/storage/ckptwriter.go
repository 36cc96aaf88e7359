package storage

import (
	"path/filepath"
	"sync"
	"time"
)

// checkpointWriter writes a log's checkpoint file. Snapshots are taken
// under the writer's lock (wmu) and numbered; the file may be written after
// wmu is released, so that the periodic checkpoint's fsyncs (file and
// directory, a few milliseconds, far more on a busy disk) never stall
// appends. A write whose snapshot is older than the one on disk is
// skipped: a checkpoint never goes back, whatever order writers reach the
// file in. Lock order: wmu before mu.
type checkpointWriter struct {
	mu      sync.Mutex
	written uint64     // sequence of the snapshot on disk
	last    checkpoint // its contents
	at      time.Time  // when it was written
}

// due reports whether the periodic checkpoint is due at now.
func (w *checkpointWriter) due(now time.Time, interval time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return now.Sub(w.at) >= interval
}

// write persists snapshot c numbered seq, unless a newer snapshot is
// already on disk, or c is what the file holds and force is not set.
func (w *checkpointWriter) write(l *Log, c checkpoint, seq uint64, force bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if seq <= w.written || (c == w.last && !force) {
		return nil
	}
	if hk := l.opt.hooks; hk != nil && hk.beforeCheckpoint != nil {
		hk.beforeCheckpoint()
	}
	if err := writeFileAtomic(filepath.Join(l.dir, checkpointFile), c.encode(), true); err != nil {
		return err
	}
	w.written, w.last, w.at = seq, c, l.opt.Now()
	return nil
}
