package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An exactly-once instance needs a transactional.id that is the same after
// a restart (so that the restarted instance fences what its predecessor
// left open instead of waiting for the transaction timeout) and that no
// other running instance uses (two producers with one id fence each other
// forever). With static membership the instance id is both. Without it,
// the engine keeps a random id in the application's state directory, as
// Kafka Streams keeps its process id, and locks the directory so that a
// second instance pointed at it fails at once with ErrStateDirLocked.

const (
	instanceIDFile = ".instance-id"
	lockFile       = ".lock"
)

// transactionalID returns the configured or derived transactional id,
// taking the state directory lock when the id comes from it. release
// unlocks (a no-op when nothing was locked).
func (a *App) transactionalID() (id string, release func(), err error) {
	if a.cfg.TransactionalID != "" {
		return a.cfg.TransactionalID, func() {}, nil
	}
	if a.cfg.InstanceID != "" {
		return a.cfg.ApplicationID + "-" + a.cfg.InstanceID, func() {}, nil
	}
	dir := filepath.Join(a.cfg.StateDir, a.cfg.ApplicationID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("state dir: %w", err)
	}
	release, err = lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return "", nil, err
	}
	pid, err := readOrCreateInstanceID(filepath.Join(dir, instanceIDFile))
	if err != nil {
		release()
		return "", nil, err
	}
	return a.cfg.ApplicationID + "-" + pid, release, nil
}

// readOrCreateInstanceID reads the instance id kept at path, creating a
// random one the first time. A torn or foreign file gets a new id: the
// only cost is waiting out a predecessor's transaction timeout once.
func readOrCreateInstanceID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if id := strings.TrimSpace(string(b)); validInstanceID(id) {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("instance id: %w", err)
	}
	id := hex.EncodeToString(raw[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return id, nil
}

func validInstanceID(id string) bool {
	if len(id) != 16 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}
