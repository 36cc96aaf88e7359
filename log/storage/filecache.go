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

// fileCache bounds the file descriptors the engine keeps open (see
// Options.MaxOpenFiles): open partitions reserve theirs (the directory
// lock and the active segment, pinned outside the LRU), and handles of
// closed segments, two descriptors each, live in an LRU shared by every
// Log of a Manager that gets what is left, at least one handle.
type fileCache struct {
	mu       sync.Mutex
	maxFiles int // Options.MaxOpenFiles
	reserved int // descriptors held outside the LRU
	maxOpen  int // handles the LRU may hold
	lru      list.List
}

func newFileCache(maxFiles int) *fileCache {
	c := &fileCache{maxFiles: maxFiles}
	c.resizeLocked()
	return c
}

// Descriptors an open partition holds outside the LRU: its directory
// lock and its active segment's .log.
const partitionFiles = 2

// reserve changes the descriptors held outside the LRU by n (an opened
// or closed partition, a Manager's lock), evicting closed segments' handles
// to stay within MaxOpenFiles. It reports whether this made the reserved
// descriptors alone exceed MaxOpenFiles.
func (c *fileCache) reserve(n int) (crossed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.reserved > c.maxFiles
	c.reserved += n
	c.resizeLocked()
	for c.lru.Len() > c.maxOpen {
		c.evictLocked(c.lru.Back())
	}
	return !was && c.reserved > c.maxFiles
}

func (c *fileCache) resizeLocked() {
	c.maxOpen = max((c.maxFiles-c.reserved)/2, 1)
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
