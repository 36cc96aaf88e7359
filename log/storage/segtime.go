package storage

import (
	"errors"
	"io"
	"math"
	"os"
	"time"
)

// segment.ms, as Kafka measures it: a segment's age counts from the
// largest timestamp of its first append, and an append rolls the segment
// when its own largest timestamp is segment.ms past that. So a log of
// event-time data (a backfill, a replay of last year) is cut by the time
// the data covers, not by how fast it arrives, and a restart does not
// reset the clock (it is read back from the segment's first batch).
//
// A timestamp is usable for this when it is not negative (a batch
// without timestamps) and not more than segment.ms ahead of the broker's
// clock (a producer with a wrong clock would otherwise keep a segment
// open for as long as its clock is ahead). When the first append's
// timestamp is not usable, the broker's clock at that append is used
// instead, as is an append's unusable timestamp.
//
// Unlike Kafka, a segment also rolls by the broker's clock: once
// segment.ms has passed since the later of its first timestamp and its
// first append (on an append, or from Maintain when the partition is
// idle), so retention and compaction can act on a partition that stopped
// receiving data.

// rollClock is the active segment's segment.ms state.
type rollClock struct {
	set     bool
	start   int64 // ms: first append's largest timestamp, or the broker's clock then
	byTs    bool  // start is a record timestamp
	firstAt int64 // ms: broker's clock at the first append (or at the open that found the segment)
}

// usableRollTs says whether a timestamp may drive segment.ms.
func usableRollTs(ts, nowMs int64, segAge time.Duration) bool {
	return ts >= 0 && ts <= nowMs+segAge.Milliseconds()
}

// begin starts the clock at the segment's first append (or, on open or
// truncation, from its first batch).
func (c *rollClock) begin(maxTs, nowMs int64, segAge time.Duration, reopened bool) {
	c.set, c.firstAt = true, nowMs
	if usableRollTs(maxTs, nowMs, segAge) {
		c.start, c.byTs = maxTs, true
		if reopened {
			c.firstAt = maxTs // when the first append happened is not known
		}
		return
	}
	c.start, c.byTs = nowMs, false
}

// due says whether the segment is segment.ms old: by the timestamps of
// an append whose largest timestamp is appendTs (-1 for none, as from
// Maintain), or by the broker's clock.
func (c *rollClock) due(nowMs, appendTs int64, segAge time.Duration) bool {
	if !c.set || segAge <= 0 {
		return false
	}
	ms := segAge.Milliseconds()
	if nowMs-max(c.start, c.firstAt) >= ms {
		return true
	}
	return c.byTs && usableRollTs(appendTs, nowMs, segAge) && appendTs-c.start >= ms
}

// startRollClockFromFile starts seg's roll clock from its first batch
// (recovery and truncation). Caller holds wmu or owns seg.
func (l *Log) startRollClockFromFile(seg *segment, f *os.File, cfg *Config) {
	if seg.size.Load() == 0 {
		return
	}
	nowMs := l.opt.Now().UnixMilli()
	var b [batchHeaderSize]byte
	ts := int64(-1)
	if _, err := f.ReadAt(b[:], 0); err == nil || errors.Is(err, io.EOF) {
		ts = parseHeader(b[:]).MaxTimestamp
	}
	seg.w.roll.begin(ts, nowMs, cfg.SegmentMs, true)
}

// appendMaxTimestamp is the largest batch timestamp of an append.
func appendMaxTimestamp(hs []header) int64 {
	ts := int64(-1)
	for i := range hs {
		ts = max(ts, hs[i].MaxTimestamp)
	}
	return ts
}

// retentionTimestamp is the time retention.ms counts from: the largest
// timestamp in the segment, as Kafka does, or, for a segment whose
// batches carry no timestamps (-1), the segment file's modification time
// (Kafka's fallback too), so such a segment still expires.
func (s *segment) retentionTimestamp() int64 {
	if ts := s.maxTs.Load(); ts >= 0 {
		return ts
	}
	st, err := os.Stat(s.path(extLog))
	if err != nil {
		return math.MaxInt64 // gone or unreadable: not expired by time
	}
	return st.ModTime().UnixMilli()
}
