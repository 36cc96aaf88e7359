package storage

import (
	"container/list"
	"errors"
	"fmt"
	"os"
	"sync"
)

// errSegmentGone: the segment was deleted or replaced after the reader
// picked it; the reader retries with the current segment list.
var errSegmentGone = errors.New("segment no longer in the log")

// handle is an open segment: the .log file and, for closed segments, the
// .index file. Readers hold a reference while they read; a handle evicted
// from the cache (or whose segment was deleted) is closed by its last user.
type handle struct {
	log        *os.File
	idx        *os.File // nil for the active segment, whose index is in memory
	idxEntries int
	refs       int
	elem       *list.Element // position in the LRU; nil when pinned (active)
	dead       bool
}

func (h *handle) close() {
	h.log.Close()
	if h.idx != nil {
		h.idx.Close()
	}
}

// fileCache bounds the file descriptors held for closed segments: an LRU of
// handles shared by every Log of a Manager. The active segment's handle is
// pinned outside the LRU.
type fileCache struct {
	mu      sync.Mutex
	maxOpen int // handles, each holding two descriptors
	lru     list.List
}

func newFileCache(maxFiles int) *fileCache {
	n := maxFiles / 2
	if n < 1 {
		n = 1
	}
	return &fileCache{maxOpen: n}
}

// acquire returns s's open handle, opening its files if needed, and the
// segment's in-memory offset index when it has one (the active segment, and
// a rolled segment until its handle leaves the cache); otherwise the
// handle's idx file is the index.
func (c *fileCache) acquire(s *segment) (*handle, memIndex, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.gone {
		return nil, nil, errSegmentGone
	}
	if h := s.h; h != nil {
		h.refs++
		if h.elem != nil {
			c.lru.MoveToFront(h.elem)
		}
		var mem memIndex
		if p := s.idx.Load(); p != nil {
			mem = *p
		}
		return h, mem, nil
	}
	lf, err := os.Open(s.path(extLog))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, errSegmentGone
		}
		return nil, nil, fmt.Errorf("open segment %s: %w", s.name(), err)
	}
	h := &handle{log: lf, refs: 1}
	if xf, err := os.Open(s.path(extIndex)); err == nil {
		if st, err := xf.Stat(); err == nil {
			h.idx, h.idxEntries = xf, int(st.Size()/offsetEntrySize)
		} else {
			xf.Close()
		}
	}
	s.h = h
	h.elem = c.lru.PushFront(s)
	for c.lru.Len() > c.maxOpen {
		c.evictLocked(c.lru.Back())
	}
	var mem memIndex
	if p := s.idx.Load(); p != nil {
		mem = *p // kept while the segment's index file is being written
	}
	return h, mem, nil
}

// ref takes a reference on s's open handle, which must exist (the active
// segment's is always pinned). The caller releases it.
func (c *fileCache) ref(s *segment) *handle {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.h.refs++
	return s.h
}

func (c *fileCache) evictLocked(e *list.Element) {
	s := e.Value.(*segment)
	c.lru.Remove(e)
	h := s.h
	s.h = nil
	if !s.flushing.Load() {
		// The index files exist; until they do, the memory copy stays.
		s.idx.Store(nil)
		s.tidx.Store(nil)
	}
	h.elem = nil
	h.dead = true
	if h.refs == 0 {
		h.close()
	}
}

func (c *fileCache) release(h *handle) {
	c.mu.Lock()
	h.refs--
	if h.refs == 0 && h.dead {
		h.close()
	}
	c.mu.Unlock()
}

// pin makes h the (active) segment's handle, outside the LRU.
func (c *fileCache) pin(s *segment, h *handle) {
	c.mu.Lock()
	if old := s.h; old != nil {
		if old.elem != nil {
			c.lru.Remove(old.elem)
		}
		old.dead = true
		if old.refs == 0 {
			old.close()
		}
	}
	s.h = h
	s.gone = false
	c.mu.Unlock()
}

// unpin moves a rolled segment's handle into the LRU. Its in-memory
// indexes stay until the handle is evicted.
func (c *fileCache) unpin(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := s.h
	if h == nil || h.elem != nil {
		return
	}
	h.elem = c.lru.PushFront(s)
	for c.lru.Len() > c.maxOpen {
		c.evictLocked(c.lru.Back())
	}
}

// drop forgets s: no new handles; the current one closes with its last user.
func (c *fileCache) drop(s *segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.gone = true
	h := s.h
	if h == nil {
		return
	}
	s.h = nil
	if h.elem != nil {
		c.lru.Remove(h.elem)
		h.elem = nil
	}
	h.dead = true
	if h.refs == 0 {
		h.close()
	}
}

// openCount reports open handles in the LRU (for tests and metrics).
func (c *fileCache) openCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
