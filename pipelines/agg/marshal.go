package agg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sluicehq/sluice/pipelines/record"
)

// ErrCorrupt is wrapped by Unmarshal errors: the bytes (from a state store
// or a changelog topic) are not an accumulator this version wrote.
var ErrCorrupt = errors.New("corrupt aggregate state")

const stateVersion = 1

// Value tags.
const (
	tagNil byte = iota
	tagFloat
	tagInt
	tagString
	tagBool
	tagTime
	tagJSON
)

// Marshal appends the state's binary form to dst.
func (s *State) Marshal(dst []byte) []byte {
	dst = append(dst, stateVersion)
	dst = binary.AppendUvarint(dst, uint64(len(s.Slots)))
	for i := range s.Slots {
		sl := &s.Slots[i]
		dst = append(dst, byte(sl.kind))
		switch sl.kind {
		case Count:
			dst = binary.AppendVarint(dst, sl.n)
		case Sum, Avg:
			dst = binary.AppendVarint(dst, sl.n)
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(sl.sum))
		case Min, Max, First, Last:
			if !sl.set {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			dst = binary.AppendVarint(dst, sl.ts)
			dst = appendValue(dst, sl.v)
		case CountDistinct:
			dst = marshalDistinct(dst, sl.d)
		case Percentile:
			dst = marshalQuantiles(dst, sl.q)
		}
	}
	return dst
}

func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, tagNil)
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, tagFloat), math.Float64bits(x))
	case int64:
		return binary.AppendVarint(append(dst, tagInt), x)
	case int:
		return binary.AppendVarint(append(dst, tagInt), int64(x))
	case string:
		dst = binary.AppendUvarint(append(dst, tagString), uint64(len(x)))
		return append(dst, x...)
	case bool:
		if x {
			return append(dst, tagBool, 1)
		}
		return append(dst, tagBool, 0)
	case time.Time:
		return binary.AppendVarint(append(dst, tagTime), x.UnixNano())
	}
	b, err := record.AppendValue(nil, v)
	if err != nil {
		b = []byte("null")
	}
	dst = binary.AppendUvarint(append(dst, tagJSON), uint64(len(b)))
	return append(dst, b...)
}

func marshalDistinct(dst []byte, d *Distinct) []byte {
	switch {
	case d == nil:
		return append(dst, 0, 0)
	case d.regs == nil:
		dst = binary.AppendUvarint(append(dst, 0), uint64(len(d.exact)))
		for _, h := range d.exact {
			dst = binary.BigEndian.AppendUint64(dst, h)
		}
		return dst
	}
	return append(append(dst, 1), d.regs...)
}

func marshalQuantiles(dst []byte, q *Quantiles) []byte {
	switch {
	case q == nil:
		return append(dst, 0, 0)
	case q.pos == nil:
		dst = binary.AppendUvarint(append(dst, 0), uint64(len(q.exact)))
		for _, v := range q.exact {
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
		}
		return dst
	}
	dst = append(dst, 1)
	dst = binary.AppendUvarint(dst, q.zeros)
	for _, m := range []map[int32]uint64{q.pos, q.neg} {
		dst = binary.AppendUvarint(dst, uint64(len(m)))
		for _, k := range sortedKeys(m) {
			dst = binary.AppendVarint(dst, int64(k))
			dst = binary.AppendUvarint(dst, m[k])
		}
	}
	return dst
}

// reader decodes with bounds checks; the first failure sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
}

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) < 1 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail("truncated")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err != nil || uint64(len(r.b)) < n {
		r.fail("truncated")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// count reads a length whose elements take at least each bytes, refusing
// lengths the remaining input cannot hold.
func (r *reader) count(each int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/each) {
		r.fail("length beyond the data")
		return 0
	}
	return int(n)
}

func (r *reader) value() any {
	switch r.byte1() {
	case tagNil:
		return nil
	case tagFloat:
		return math.Float64frombits(r.u64())
	case tagInt:
		return r.varint()
	case tagString:
		return string(r.bytes(uint64(r.count(1))))
	case tagBool:
		return r.byte1() == 1
	case tagTime:
		return time.Unix(0, r.varint()).UTC()
	case tagJSON:
		b := r.bytes(uint64(r.count(1)))
		if r.err != nil {
			return nil
		}
		if string(b) == "null" {
			return nil
		}
		m, err := record.Decode([]byte(`{"v":` + string(b) + `}`))
		if err != nil {
			r.fail("bad JSON value")
			return nil
		}
		return m["v"]
	}
	r.fail("unknown value tag")
	return nil
}

// Unmarshal decodes a state written by Marshal for the same specs.
func Unmarshal(data []byte, specs []Spec) (*State, error) {
	r := &reader{b: data}
	if v := r.byte1(); r.err == nil && v != stateVersion {
		return nil, fmt.Errorf("%w: version %d", ErrCorrupt, v)
	}
	n := r.count(1)
	if r.err == nil && n != len(specs) {
		return nil, fmt.Errorf("%w: %d aggregates stored, the window has %d (did the pipeline change? use a new application_id)", ErrCorrupt, n, len(specs))
	}
	s := New(specs)
	for i := 0; i < n && r.err == nil; i++ {
		sl := &s.Slots[i]
		if k := Kind(r.byte1()); r.err == nil && k != sl.kind {
			return nil, fmt.Errorf("%w: aggregate %d stored as kind %d, the window has %d", ErrCorrupt, i, k, sl.kind)
		}
		switch sl.kind {
		case Count:
			sl.n = r.varint()
		case Sum, Avg:
			sl.n = r.varint()
			sl.sum = math.Float64frombits(r.u64())
		case Min, Max, First, Last:
			if r.byte1() == 1 {
				sl.set = true
				sl.ts = r.varint()
				sl.v = r.value()
			}
		case CountDistinct:
			sl.d = unmarshalDistinct(r)
		case Percentile:
			sl.q = unmarshalQuantiles(r)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return nil, r.err
	}
	return s, nil
}

func unmarshalDistinct(r *reader) *Distinct {
	switch r.byte1() {
	case 0:
		n := r.count(8)
		if n == 0 {
			return nil
		}
		if n > hllExactMax {
			r.fail("too many exact hashes")
			return nil
		}
		d := &Distinct{exact: make([]uint64, 0, n)}
		for i := 0; i < n; i++ {
			d.AddHash(r.u64())
		}
		return d
	case 1:
		regs := r.bytes(hllRegisters)
		if r.err != nil {
			return nil
		}
		return &Distinct{regs: append([]uint8(nil), regs...)}
	}
	r.fail("bad distinct mode")
	return nil
}

func unmarshalQuantiles(r *reader) *Quantiles {
	switch r.byte1() {
	case 0:
		n := r.count(8)
		if n == 0 {
			return nil
		}
		if n > sketchExactMax {
			r.fail("too many exact values")
			return nil
		}
		q := &Quantiles{}
		for i := 0; i < n; i++ {
			q.Add(math.Float64frombits(r.u64()))
		}
		return q
	case 1:
		q := &Quantiles{pos: map[int32]uint64{}, neg: map[int32]uint64{}}
		q.zeros = r.uvarint()
		q.n = q.zeros
		for _, m := range []map[int32]uint64{q.pos, q.neg} {
			n := r.count(2)
			if n > sketchMaxBuckets {
				r.fail("too many buckets")
				return nil
			}
			for i := 0; i < n && r.err == nil; i++ {
				k := r.varint()
				if k < math.MinInt32 || k > math.MaxInt32 {
					r.fail("bucket index out of range")
					return nil
				}
				c := r.uvarint()
				m[int32(k)] += c
				q.n += c
			}
		}
		return q
	}
	r.fail("bad percentile mode")
	return nil
}
