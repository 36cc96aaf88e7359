package storage

// epochEntry says leader epoch Epoch's first offset was StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the leader-epoch cache: epochs in increasing order with the
// offset where each began. Followers use it (OffsetForLeaderEpoch) to find
// where their log diverged from the leader's. Guarded by Log.epochMu.
type epochCache struct {
	entries []epochEntry
}

// assign records that epoch starts at offset, if epoch is newer than the
// latest one. It reports whether the cache changed.
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if epoch < 0 {
		return false
	}
	if n := len(c.entries); n > 0 {
		last := c.entries[n-1]
		if epoch <= last.Epoch || offset < last.StartOffset {
			return false
		}
		if offset == last.StartOffset {
			// The previous epoch wrote nothing; the newer one replaces it.
			c.entries[n-1] = epochEntry{epoch, offset}
			return true
		}
	}
	c.entries = append(c.entries, epochEntry{epoch, offset})
	return true
}

func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// endOffsetFor implements OffsetForLeaderEpoch: the largest epoch <= the
// requested one and the offset where the next epoch started (the log end
// for the latest epoch); (-1, -1) when the epoch is unknown or newer than
// all.
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if last := c.entries[len(c.entries)-1]; epoch == last.Epoch {
		return epoch, logEnd
	}
	// First entry with a larger epoch.
	hi := -1
	for i, e := range c.entries {
		if e.Epoch > epoch {
			hi = i
			break
		}
	}
	if hi < 0 {
		return -1, -1
	}
	if hi == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[hi-1].Epoch, c.entries[hi].StartOffset
}

// truncateFromEnd drops epochs that start at or after offset (log
// truncation). It reports whether the cache changed.
func (c *epochCache) truncateFromEnd(offset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops epochs wholly below offset (log start moved):
// the latest epoch starting at or before offset is kept, starting at offset.
func (c *epochCache) truncateFromStart(offset int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].StartOffset <= offset {
		i++
	}
	if i == 0 {
		return false
	}
	keep := c.entries[i-1]
	changed := i > 1 || keep.StartOffset != offset
	keep.StartOffset = offset
	c.entries = append([]epochEntry{keep}, c.entries[i:]...)
	return changed
}
