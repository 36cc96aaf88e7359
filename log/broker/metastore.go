package broker

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// metaDir is the broker's own state under the data directory. Its name has
// no "-<partition>" suffix, so storage never mistakes it for a partition.
const metaDir = "meta"

// topicRecord is one topic in meta/topics.json.
type topicRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Internal   bool              `json:"internal,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
}

type topicsFile struct {
	Version int           `json:"version"`
	Topics  []topicRecord `json:"topics"`
}

type clusterFile struct {
	ClusterID string `json:"cluster_id"`
}

// writeFileAtomic replaces path with data crash-safely: write a temporary
// file, fsync it, rename it over path, fsync the directory. A crash leaves
// either the old or the new content, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// loadClusterID reads the cluster id, creating one on first start.
func loadClusterID(dataDir string) (string, error) {
	path := filepath.Join(dataDir, metaDir, "cluster.json")
	var cf clusterFile
	ok, err := readJSON(path, &cf)
	if err != nil {
		return "", err
	}
	if ok && cf.ClusterID != "" {
		return cf.ClusterID, nil
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	cf.ClusterID = base64.RawURLEncoding.EncodeToString(b[:])
	return cf.ClusterID, writeJSON(path, cf)
}

func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // UUID v4
	id[8] = id[8]&0x3f | 0x80
	return id
}

func parseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("topic id %q is not 32 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}
