package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The property tests drive a Log with random operations (appends, rolls,
// retention, compaction, truncation, DeleteRecords, clean and crash
// restarts) and compare it after every step with a simple in-memory model.

type modelBatch struct {
	base, last int64
	data       []byte // as stored (offset and epoch rewritten)
	recs       []modelRecord
	pid        int64 // -1 unless idempotent
	lastSeq    int32
}

type modelRecord struct {
	off        int64
	ts         int64
	key, value []byte
}

type model struct {
	batches  []modelBatch
	leo      int64
	logStart int64
}

// truncate mirrors TruncateTo: whole batches from the one holding off
// go; at or below the log start the log restarts empty at off.
func (m *model) truncate(off int64) {
	if off >= m.leo {
		return
	}
	i := m.batchIdx(off)
	if off <= m.logStart || i < len(m.batches) && m.batches[i].base < m.logStart {
		m.leo, m.logStart, m.batches = off, off, nil
		return
	}
	if i < len(m.batches) {
		m.leo = m.batches[i].base
		m.batches = m.batches[:i]
	}
}

// batchIdx returns the index of the first batch with last >= off.
func (m *model) batchIdx(off int64) int {
	for i, b := range m.batches {
		if b.last >= off {
			return i
		}
	}
	return len(m.batches)
}

type propRun struct {
	t     *testing.T
	rng   *rand.Rand
	dir   string
	cfg   Config
	now   int64
	l     *Log
	m     model
	seed  uint64
	step  int
	codec bool

	lastServed, lastTotal int
	idemReset             int64 // producer 77's state was (re)started at this offset
}

func (p *propRun) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("seed %d step %d: %s", p.seed, p.step, fmt.Sprintf(format, args...))
}

func (p *propRun) debugf(format string, args ...any) {
	if os.Getenv("SLUICE_PROP_DEBUG") != "" {
		p.t.Logf("step %d: %s", p.step, fmt.Sprintf(format, args...))
	}
}

func (p *propRun) open() {
	l, err := Open(p.dir, p.cfg, Options{Logger: quietLogger(), Now: func() time.Time { return time.UnixMilli(p.now) }, MaxOpenFiles: 4})
	if err != nil {
		p.fatalf("open: %v", err)
	}
	p.l = l
}

func (p *propRun) randomBatch(keys int) ([]byte, []modelRecord) {
	n := 1 + p.rng.IntN(6)
	rs := make([]rec, n)
	mr := make([]modelRecord, n)
	for i := range rs {
		var k, v []byte
		if keys > 0 {
			k = []byte(fmt.Sprintf("key%d", p.rng.IntN(keys)))
			if p.rng.IntN(8) > 0 {
				v = bytes.Repeat([]byte{byte('a' + p.rng.IntN(26))}, 1+p.rng.IntN(300))
			}
		} else {
			v = make([]byte, p.rng.IntN(400))
			for j := range v {
				v[j] = byte(p.rng.Uint32())
			}
		}
		rs[i] = rec{Key: k, Value: v, TsDelta: int64(i)}
		mr[i] = modelRecord{ts: p.now + int64(i), key: k, value: v}
	}
	codec := codecNone
	if p.codec {
		codec = p.rng.IntN(5)
	}
	return makeBatch(p.t, batchSpec{Records: rs, BaseTimestamp: p.now, ProducerID: -1, Codec: codec}), mr
}

func (p *propRun) appendOne(keys int) {
	b, mr := p.randomBatch(keys)
	info, err := p.l.Append(b, AppendOptions{LeaderEpoch: 1})
	if err != nil {
		p.fatalf("append: %v", err)
	}
	if info.BaseOffset != p.m.leo {
		p.fatalf("append at %d, model end %d", info.BaseOffset, p.m.leo)
	}
	for i := range mr {
		mr[i].off = info.BaseOffset + int64(i)
	}
	p.debugf("append %d-%d", info.BaseOffset, info.LastOffset)
	p.m.batches = append(p.m.batches, modelBatch{base: info.BaseOffset, last: info.LastOffset, data: append([]byte(nil), b...), recs: mr, pid: -1})
	p.m.leo = info.LastOffset + 1
}

// idempotentOp exercises producer 77: a retry of one of its last five
// batches must be a duplicate with the original offsets, a gap must be
// refused, the next sequence accepted — as long as the model says the
// producer still has a batch at or after the log start (otherwise its
// state is gone and any sequence is accepted, as in Kafka).
func (p *propRun) idempotentOp() {
	const pid = 77
	var mine []modelBatch // batches since its state last (re)started
	for _, b := range p.m.batches {
		if b.pid == pid && b.base >= p.idemReset {
			mine = append(mine, b)
		}
	}
	known := len(mine) > 0 && mine[len(mine)-1].last >= p.l.LogStartOffset()
	choice := p.rng.IntN(3)
	if !known {
		choice = 2
	}
	switch choice {
	case 0:
		b := mine[len(mine)-1-p.rng.IntN(min(5, len(mine)))]
		info, err := p.l.Append(append([]byte(nil), b.data...), AppendOptions{LeaderEpoch: 1})
		if b.base < p.l.LogStartOffset() && errors.Is(err, ErrOutOfOrderSequence) {
			// A batch retention already removed may have left the
			// dedupe window when state was rebuilt (as in Kafka).
			return
		}
		if err != nil || !info.Duplicate || info.BaseOffset != b.base || info.LastOffset != b.last {
			p.fatalf("retry of %d-%d: %+v, %v", b.base, b.last, info, err)
		}
		p.debugf("retry %d-%d: duplicate", b.base, b.last)
		return
	case 1:
		seq := seqAdd(mine[len(mine)-1].lastSeq, int32(2+p.rng.IntN(5)))
		b := makeBatch(p.t, batchSpec{Records: []rec{{Value: []byte("gap")}}, BaseTimestamp: p.now, ProducerID: pid, BaseSequence: seq})
		if _, err := p.l.Append(b, AppendOptions{LeaderEpoch: 1}); !errors.Is(err, ErrOutOfOrderSequence) {
			p.fatalf("sequence gap accepted: %v", err)
		}
		p.debugf("gap refused")
		return
	}
	seq := int32(p.rng.IntN(1000))
	if known {
		seq = seqAdd(mine[len(mine)-1].lastSeq, 1)
	}
	n := 1 + p.rng.IntN(4)
	rs := make([]rec, n)
	mr := make([]modelRecord, n)
	for i := range rs {
		rs[i] = rec{Value: []byte(fmt.Sprintf("idem-%d", i)), TsDelta: int64(i)}
		mr[i] = modelRecord{ts: p.now + int64(i), value: rs[i].Value}
	}
	b := makeBatch(p.t, batchSpec{Records: rs, BaseTimestamp: p.now, ProducerID: pid, BaseSequence: seq})
	info, err := p.l.Append(b, AppendOptions{LeaderEpoch: 1})
	if err != nil || info.Duplicate || info.BaseOffset != p.m.leo {
		p.fatalf("idempotent append seq %d: %+v, %v", seq, info, err)
	}
	for i := range mr {
		mr[i].off = info.BaseOffset + int64(i)
	}
	if !known {
		p.idemReset = info.BaseOffset
	}
	p.debugf("idempotent append %d-%d seq %d", info.BaseOffset, info.LastOffset, seq)
	p.m.batches = append(p.m.batches, modelBatch{base: info.BaseOffset, last: info.LastOffset, data: append([]byte(nil), b...),
		recs: mr, pid: pid, lastSeq: seqAdd(seq, int32(n-1))})
	p.m.leo = info.LastOffset + 1
}

func (p *propRun) restart(crash bool) {
	if crash {
		// A process crash: nothing flushed or checkpointed, but what was
		// written is in the page cache and survives.
		p.l.closeNoFlush()
	} else if err := p.l.Close(); err != nil {
		p.fatalf("close: %v", err)
	}
	p.open()
}

// checkBatches compares everything the log serves with the model, batch
// for batch and byte for byte (delete policy only).
func (p *propRun) checkBatches() {
	l := p.l
	if l.LogEndOffset() != p.m.leo {
		p.fatalf("LEO %d, model %d", l.LogEndOffset(), p.m.leo)
	}
	if l.LogStartOffset() < p.m.logStart {
		p.fatalf("log start %d went below the model's %d", l.LogStartOffset(), p.m.logStart)
	}
	p.m.logStart = l.LogStartOffset()
	i := p.m.batchIdx(p.m.logStart)
	for off := p.m.logStart; off < p.m.leo; {
		res, err := l.Read(off, 1+p.rng.IntN(8000), p.m.leo)
		if err != nil {
			p.fatalf("read %d: %v", off, err)
		}
		if len(res.Data) == 0 {
			p.fatalf("empty read at %d (LEO %d)", off, p.m.leo)
		}
		for d := res.Data; len(d) > 0; i++ {
			if i >= len(p.m.batches) {
				p.fatalf("served more batches than the model has")
			}
			want := p.m.batches[i].data
			if len(d) < len(want) || !bytes.Equal(d[:len(want)], want) {
				p.fatalf("batch at %d differs from the model", p.m.batches[i].base)
			}
			d = d[len(want):]
			off = p.m.batches[i].last + 1
		}
	}
	if i != len(p.m.batches) {
		p.fatalf("served %d batches, model has %d", i, len(p.m.batches))
	}
}

func (p *propRun) randomRead() {
	if p.m.leo == p.m.logStart {
		return
	}
	off := p.m.logStart + p.rng.Int64N(p.m.leo-p.m.logStart)
	maxOff := off + p.rng.Int64N(p.m.leo-off+1)
	maxBytes := p.rng.IntN(5000)
	res, err := p.l.Read(off, maxBytes, maxOff)
	if err != nil {
		p.fatalf("read(%d, %d, %d): %v", off, maxBytes, maxOff, err)
	}
	i := p.m.batchIdx(off)
	first := true
	size := 0
	for d := res.Data; len(d) > 0; i++ {
		b := p.m.batches[i]
		if !bytes.HasPrefix(d, b.data) {
			p.fatalf("read(%d): batch at %d differs", off, b.base)
		}
		if b.last >= maxOff {
			p.fatalf("read(%d, max %d): served batch ending at %d", off, maxOff, b.last)
		}
		size += len(b.data)
		if !first && size > maxBytes {
			p.fatalf("read(%d): %d bytes for maxBytes %d", off, size, maxBytes)
		}
		first = false
		d = d[len(b.data):]
	}
	if len(res.Data) == 0 && i < len(p.m.batches) && p.m.batches[i].last < maxOff {
		p.fatalf("read(%d, max %d) returned nothing though batch %d-%d is readable", off, maxOff, p.m.batches[i].base, p.m.batches[i].last)
	}
}

func (p *propRun) checkTimestamp() {
	target := p.now - p.rng.Int64N(20000)
	var wantOff, wantTs int64 = -1, -1
	for _, b := range p.m.batches {
		for _, r := range b.recs {
			if r.off >= p.m.logStart && r.ts >= target {
				wantOff, wantTs = r.off, r.ts
				break
			}
		}
		if wantOff >= 0 {
			break
		}
	}
	off, ts, err := p.l.OffsetForTimestamp(target)
	if wantOff < 0 {
		if !errors.Is(err, ErrNoOffsetForTimestamp) {
			p.fatalf("OffsetForTimestamp(%d) = %d, %v; want none", target, off, err)
		}
		return
	}
	if err != nil || off != wantOff || ts != wantTs {
		p.fatalf("OffsetForTimestamp(%d) = %d@%d %v; want %d@%d", target, off, ts, err, wantOff, wantTs)
	}
}

// propSeedBase returns the first seed: $SLUICE_PROP_SEED to replay a
// failure, else the clock.
func propSeedBase() uint64 {
	if s := os.Getenv("SLUICE_PROP_SEED"); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		return n
	}
	return uint64(time.Now().UnixNano())
}

// propSeeds is how many random runs each property test does: 4 under
// -short, 12 by default (the runs are fsync-bound), $SLUICE_PROP_SEEDS for
// soak testing.
func propSeeds(t *testing.T) int {
	if os.Getenv("SLUICE_PROP_SEED") != "" {
		return 1
	}
	if s := os.Getenv("SLUICE_PROP_SEEDS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	if testing.Short() {
		return 4
	}
	return 12
}

func TestPropertyDeletePolicy(t *testing.T) {
	base := propSeedBase()
	for s := 0; s < propSeeds(t); s++ {
		seed := base + uint64(s)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			cfg := DefaultConfig()
			cfg.SegmentBytes = int64(1024 + rng.IntN(16<<10))
			cfg.IndexIntervalBytes = rng.IntN(2048)
			cfg.FlushMessages = []int64{1, 7, math.MaxInt64}[rng.IntN(3)]
			cfg.SegmentMs = time.Duration(1+rng.IntN(60)) * time.Second
			if rng.IntN(2) == 0 {
				cfg.RetentionBytes = int64(rng.IntN(40 << 10))
			}
			cfg.RetentionMs = time.Duration(5+rng.IntN(120)) * time.Second
			p := &propRun{t: t, rng: rng, dir: t.TempDir(), cfg: cfg, now: 1_700_000_000_000, seed: seed, codec: rng.IntN(2) == 0}
			p.open()
			defer func() { p.l.Close() }()
			for p.step = 0; p.step < 300; p.step++ {
				switch r := rng.IntN(100); {
				case r < 42:
					p.appendOne(0)
				case r < 50:
					p.idempotentOp()
				case r < 56:
					p.now += rng.Int64N(15000)
					p.l.SetHighWatermark(p.l.LogEndOffset())
					p.debugf("maintain: before start %d leo %d segs %d", p.l.LogStartOffset(), p.l.LogEndOffset(), p.l.SegmentCount())
					if err := p.l.Maintain(time.UnixMilli(p.now)); err != nil {
						p.fatalf("maintain: %v", err)
					}
					p.checkRetention()
				case r < 60:
					p.debugf("restart")
					p.restart(false)
				case r < 63:
					p.debugf("crash restart")
					p.restart(true)
				case r < 66:
					hw := p.l.HighWatermark()
					off := hw + rng.Int64N(p.m.leo-hw+1)
					if rng.IntN(10) == 0 {
						off = rng.Int64N(p.m.leo + 1) // sometimes below the HWM or start
					}
					p.debugf("truncate to %d (start %d, hw %d, leo %d)", off, p.l.LogStartOffset(), hw, p.m.leo)
					if err := p.l.TruncateTo(off); err != nil {
						p.fatalf("truncate %d: %v", off, err)
					}
					p.m.truncate(off)
				case r < 69:
					hw := p.l.HighWatermark()
					if hw > p.m.logStart {
						off := p.m.logStart + rng.Int64N(hw-p.m.logStart+1)
						p.debugf("delete records before %d", off)
						got, err := p.l.DeleteRecordsBefore(off)
						if err != nil || got != off {
							p.fatalf("DeleteRecordsBefore(%d) = %d, %v", off, got, err)
						}
						p.m.logStart = off
					}
				case r < 75:
					p.l.SetHighWatermark(p.m.logStart + rng.Int64N(p.m.leo-p.m.logStart+1))
				case r < 88:
					p.randomRead()
				case r < 94:
					p.checkTimestamp()
				default:
					p.checkBatches()
				}
				if p.l.LogEndOffset() != p.m.leo {
					p.fatalf("LEO %d, model %d", p.l.LogEndOffset(), p.m.leo)
				}
				p.m.logStart = max(p.m.logStart, p.l.LogStartOffset())
			}
			p.checkBatches()
			t.Logf("log start %d, end %d, %d segments", p.l.LogStartOffset(), p.l.LogEndOffset(), p.l.SegmentCount())
		})
	}
}

// checkRetention: after Maintain, no closed segment is wholly past
// retention.ms, and the closed segments beyond the first fit retention.bytes.
func (p *propRun) checkRetention() {
	segs := p.l.segments()
	var total int64
	for _, s := range segs {
		total += s.size.Load()
	}
	hw := p.l.HighWatermark()
	if len(segs) > 1 && segs[1].base <= hw {
		if s := segs[0]; s.maxTs.Load() >= 0 && p.now-s.maxTs.Load() > p.cfg.RetentionMs.Milliseconds() {
			p.fatalf("segment %s (max ts %d) survived retention.ms at %d", s.name(), s.maxTs.Load(), p.now)
		}
		if p.cfg.RetentionBytes >= 0 && total-segs[0].size.Load() >= p.cfg.RetentionBytes {
			p.fatalf("%d bytes in %d segments survive retention.bytes %d", total, len(segs), p.cfg.RetentionBytes)
		}
	}
}

// TestPropertyCompaction: random keyed appends (with tombstones, all
// codecs), compaction, rolls and restarts. Whatever the log serves must be
// records of the model with the same offset, key and value; the newest
// record of every key must always be served (tombstones may go after
// delete.retention.ms); offsets never change.
func TestPropertyCompaction(t *testing.T) {
	base := propSeedBase()
	for s := 0; s < propSeeds(t); s++ {
		seed := base + uint64(s)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			cfg := DefaultConfig()
			cfg.CleanupCompact = true
			cfg.CleanupDelete = false
			cfg.SegmentBytes = int64(1024 + rng.IntN(8<<10))
			cfg.IndexIntervalBytes = rng.IntN(1024)
			cfg.MinCleanableRatio = rng.Float64() * 0.8
			cfg.DeleteRetention = time.Duration(rng.IntN(30)) * time.Second
			cfg.SegmentMs = time.Duration(1+rng.IntN(30)) * time.Second
			p := &propRun{t: t, rng: rng, dir: t.TempDir(), cfg: cfg, now: 1_700_000_000_000, seed: seed, codec: true}
			p.open()
			defer func() { p.l.Close() }()
			keys := 3 + rng.IntN(30)
			all := map[int64]modelRecord{}
			for p.step = 0; p.step < 250; p.step++ {
				switch r := rng.IntN(100); {
				case r < 60:
					p.appendOne(keys)
					for _, rc := range p.m.batches[len(p.m.batches)-1].recs {
						all[rc.off] = rc
					}
				case r < 80:
					p.now += rng.Int64N(10000)
					p.l.SetHighWatermark(p.l.LogEndOffset())
					if err := p.l.Maintain(time.UnixMilli(p.now)); err != nil {
						p.fatalf("maintain: %v", err)
					}
				case r < 85:
					p.restart(false)
				case r < 88:
					p.restart(true)
				default:
					p.checkCompacted(all)
				}
			}
			p.checkCompacted(all)
			t.Logf("%d of %d records served after compaction, %d segments", p.lastServed, p.lastTotal, p.l.SegmentCount())
			if p.lastServed == p.lastTotal && p.lastTotal > 4*keys {
				t.Errorf("nothing was ever compacted away")
			}
		})
	}
}

func (p *propRun) checkCompacted(all map[int64]modelRecord) {
	if p.l.LogEndOffset() != p.m.leo {
		p.fatalf("LEO %d, model %d", p.l.LogEndOffset(), p.m.leo)
	}
	served := map[int64]bool{}
	last := int64(-1)
	for off := p.l.LogStartOffset(); off < p.m.leo; {
		res, err := p.l.Read(off, 1+p.rng.IntN(10000), p.m.leo)
		if err != nil {
			p.fatalf("read %d: %v", off, err)
		}
		if len(res.Data) == 0 {
			break
		}
		for d := res.Data; len(d) > 0; {
			h, err := validateBatch(d, 1<<30, false)
			if err != nil {
				p.fatalf("served invalid batch: %v", err)
			}
			body, err := decompress(h.Codec(), d[batchHeaderSize:h.Size()], 1<<30)
			if err != nil {
				p.fatalf("decompress: %v", err)
			}
			err = forEachRecord(body, h.RecordCount, func(r *kmsg.Record) error {
				o := h.BaseOffset + int64(r.OffsetDelta)
				if o <= last {
					return fmt.Errorf("offset %d after %d", o, last)
				}
				last = o
				want, ok := all[o]
				if !ok || !bytes.Equal(want.key, r.Key) || !bytes.Equal(want.value, r.Value) || (want.value == nil) != (r.Value == nil) {
					return fmt.Errorf("record at %d is not the one appended there", o)
				}
				if ts := h.BaseTimestamp + r.TimestampDelta64; ts != want.ts {
					return fmt.Errorf("record at %d: timestamp %d, appended with %d", o, ts, want.ts)
				}
				served[o] = true
				return nil
			})
			if err != nil {
				p.fatalf("%v", err)
			}
			off = h.LastOffset() + 1
			d = d[h.Size():]
		}
	}
	newest := map[string]modelRecord{}
	for _, r := range all {
		if cur, ok := newest[string(r.key)]; !ok || r.off > cur.off {
			newest[string(r.key)] = r
		}
	}
	for k, r := range newest {
		if r.value != nil && !served[r.off] {
			p.fatalf("newest record of %s (offset %d) is not served", k, r.off)
		}
	}
	p.lastServed, p.lastTotal = len(served), len(all)
}
