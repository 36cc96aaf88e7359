package broker

import (
	"fmt"
	"path/filepath"
	"sync"
)

// producerIDBlock is how many producer ids are reserved on disk at a time.
const producerIDBlock = 1000

type producerIDFile struct {
	// Next is the first id not yet reserved: every id below it may have
	// been handed out before a crash and is never reused.
	Next int64 `json:"next"`
}

// producerIDs hands out idempotent-producer ids that are unique across
// restarts: a block is reserved on disk before any id in it is used.
type producerIDs struct {
	mu       sync.Mutex
	path     string
	next     int64
	reserved int64 // ids below this are reserved on disk
}

func loadProducerIDs(dataDir string) (*producerIDs, error) {
	p := &producerIDs{path: filepath.Join(dataDir, metaDir, "producer-ids.json")}
	var f producerIDFile
	if _, err := readJSON(p.path, &f); err != nil {
		return nil, fmt.Errorf("loading producer ids: %w", err)
	}
	p.next, p.reserved = f.Next, f.Next
	return p, nil
}

func (p *producerIDs) allocate() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.reserved {
		end := p.next + producerIDBlock
		if err := writeJSON(p.path, producerIDFile{Next: end}); err != nil {
			return 0, fmt.Errorf("reserving producer ids: %w", err)
		}
		p.reserved = end
	}
	id := p.next
	p.next++
	return id, nil
}
