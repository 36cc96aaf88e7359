package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// checkpointFile records, per store of a task, the offset of the last
// changelog record the local store holds. On reassignment the task restores
// only the changelog after it instead of replaying everything.
const checkpointFile = ".checkpoint"

type checkpoint struct {
	Stores map[string]int64 `json:"stores"`
}

func readCheckpoint(dir string) (checkpoint, error) {
	cp := checkpoint{Stores: map[string]int64{}}
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return cp, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		// A torn or corrupt checkpoint only costs a full restore.
		return checkpoint{Stores: map[string]int64{}}, nil
	}
	if cp.Stores == nil {
		cp.Stores = map[string]int64{}
	}
	return cp, nil
}

// writeCheckpoint replaces the checkpoint atomically (write, sync, rename).
func writeCheckpoint(dir string, cp checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, checkpointFile+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, checkpointFile)); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// removeCheckpoint deletes a task's checkpoint, durably: under exactly-once
// a task does so before its stores take writes that a transaction may
// abort, and the deletion must reach the disk before those writes can.
func removeCheckpoint(dir string) error {
	err := os.Remove(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("remove checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("remove checkpoint: sync %s: %w", dir, err)
	}
	return nil
}
