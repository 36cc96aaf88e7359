package operators

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Windows says how a grouped stream is cut into time windows. It is one of
// TimeWindows (tumbling and hopping), SlidingWindows or SessionWindows.
type Windows interface {
	kind() string
	graceMs() int64
}

// TimeWindows are fixed-size windows [start, start+size) starting every
// advance; tumbling windows have advance == size.
type TimeWindows struct {
	size, advance, grace int64
}

// Tumbling windows of size d: each record falls in exactly one window.
func Tumbling(d time.Duration) TimeWindows {
	return TimeWindows{size: d.Milliseconds(), advance: d.Milliseconds()}
}

// Hopping windows of size d starting every advance: a record falls in
// size/advance windows.
func Hopping(size, advance time.Duration) TimeWindows {
	return TimeWindows{size: size.Milliseconds(), advance: advance.Milliseconds()}
}

// Grace accepts records up to d late: a window takes updates until stream
// time reaches its end plus d, then closes. The default grace is zero.
func (w TimeWindows) Grace(d time.Duration) TimeWindows { w.grace = d.Milliseconds(); return w }

func (w TimeWindows) kind() string   { return "time" }
func (w TimeWindows) graceMs() int64 { return w.grace }

// SlidingWindows of size d: every record r defines the window
// [r.ts-d, r.ts] (both ends inclusive) holding every record of its key in
// that range, so "how many events in the last d before this one" is one
// aggregation. A record arriving out of order also updates every existing
// window that contains it. (Kafka Streams additionally keeps "right"
// windows after each record; Sluice keeps only the windows ending at a
// record, which is what velocity and rate checks need.)
type SlidingWindows struct {
	size, grace int64
}

// Sliding windows with the given maximum time difference.
func Sliding(d time.Duration) SlidingWindows { return SlidingWindows{size: d.Milliseconds()} }

// Grace accepts records up to d late (default zero).
func (w SlidingWindows) Grace(d time.Duration) SlidingWindows {
	w.grace = d.Milliseconds()
	return w
}

func (w SlidingWindows) kind() string   { return "sliding" }
func (w SlidingWindows) graceMs() int64 { return w.grace }

// SessionWindows group a key's records into sessions of activity separated
// by gaps of more than gap; a record that bridges two sessions merges them.
// A session's window is [first record, last record], both inclusive.
type SessionWindows struct {
	gap, grace int64
}

// Session windows with inactivity gap d.
func Session(gap time.Duration) SessionWindows { return SessionWindows{gap: gap.Milliseconds()} }

// Grace accepts records up to d late (default zero).
func (w SessionWindows) Grace(d time.Duration) SessionWindows {
	w.grace = d.Milliseconds()
	return w
}

func (w SessionWindows) kind() string   { return "session" }
func (w SessionWindows) graceMs() int64 { return w.grace }

func validateWindows(b *Builder, where string, w Windows) bool {
	bad := func(f string, a ...any) bool { b.errorf(where+": "+f, a...); return false }
	switch w := w.(type) {
	case TimeWindows:
		if w.size <= 0 {
			return bad("window size must be at least 1ms, got %dms", w.size)
		}
		if w.advance <= 0 || w.advance > w.size {
			return bad("window advance must be in (0, size=%dms], got %dms", w.size, w.advance)
		}
	case SlidingWindows:
		if w.size <= 0 {
			return bad("sliding window size must be at least 1ms, got %dms", w.size)
		}
	case SessionWindows:
		if w.gap <= 0 {
			return bad("session gap must be at least 1ms, got %dms", w.gap)
		}
	case nil:
		return bad("no windows")
	default:
		return bad("unknown windows %T", w)
	}
	if w.graceMs() < 0 {
		return bad("negative grace")
	}
	return true
}

// WindowedSerde encodes a Windowed[K] as the key's bytes followed by start
// and end as 8-byte big-endian milliseconds.
func WindowedSerde[K any](inner Serde[K]) Serde[Windowed[K]] { return windowedSerde[K]{inner} }

type windowedSerde[K any] struct{ inner Serde[K] }

func (s windowedSerde[K]) Serialize(dst []byte, w Windowed[K]) ([]byte, error) {
	dst, err := s.inner.Serialize(dst, w.Key)
	if err != nil {
		return dst, err
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start))
	return binary.BigEndian.AppendUint64(dst, uint64(w.End)), nil
}

func (s windowedSerde[K]) Deserialize(b []byte) (Windowed[K], error) {
	var w Windowed[K]
	if len(b) < 16 {
		return w, fmt.Errorf("%w: windowed key needs at least 16 bytes, got %d", ErrSerde, len(b))
	}
	k, err := s.inner.Deserialize(b[:len(b)-16])
	if err != nil {
		return w, err
	}
	w.Key = k
	w.Start = int64(binary.BigEndian.Uint64(b[len(b)-16:]))
	w.End = int64(binary.BigEndian.Uint64(b[len(b)-8:]))
	return w, nil
}
