package storage

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sort"
)

// Idempotent-producer state, as Kafka keeps it: per producer id the
// current epoch and the last few batches' sequence ranges with the offsets
// they were written at, so a retried batch is recognised (and answered
// with its original offsets) and a gap is refused. Transactional
// producers additionally have an open transaction's first offset, which
// bounds the last stable offset, and aborted transactions are remembered
// for read_committed fetches.

// producerBatchesKept is how many recent batches per producer are kept for
// duplicate detection: Kafka's max.in.flight.requests.per.connection limit
// for idempotence.
const producerBatchesKept = 5

type batchMeta struct {
	FirstSeq, LastSeq       int32
	FirstOffset, LastOffset int64
	Timestamp               int64
}

type producerEntry struct {
	ID               int64
	Epoch            int16
	Batches          []batchMeta // oldest first, at most producerBatchesKept
	LastTimestamp    int64       // max timestamp of its last batch (for expiration)
	LastOffset       int64       // offset of its last batch
	CoordinatorEpoch int32
	TxnFirstOffset   int64 // first offset of the open transaction; -1 if none
}

func (e *producerEntry) lastSeq() (int32, bool) {
	if len(e.Batches) == 0 {
		return 0, false
	}
	return e.Batches[len(e.Batches)-1].LastSeq, true
}

// AbortedTransaction is an aborted transaction overlapping a fetch; a
// read_committed consumer drops its records.
type AbortedTransaction struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64 // offset of the abort marker
}

type producerState struct {
	m       map[int64]*producerEntry
	aborted []AbortedTransaction // sorted by LastOffset
}

func newProducerState() *producerState {
	return &producerState{m: map[int64]*producerEntry{}}
}

func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == 1<<31-1)
}

// check validates a client batch's producer fields against the state. It
// returns the matching earlier batch for a duplicate.
func (ps *producerState) check(h *header) (*batchMeta, error) {
	if !h.HasProducer() {
		return nil, nil
	}
	e := ps.m[h.ProducerID]
	if h.IsControl() {
		if e != nil && h.ProducerEpoch < e.Epoch {
			return nil, fmt.Errorf("producer %d: marker epoch %d older than %d: %w", h.ProducerID, h.ProducerEpoch, e.Epoch, ErrInvalidProducerEpoch)
		}
		return nil, nil
	}
	if h.BaseSequence < 0 {
		return nil, fmt.Errorf("producer %d: batch has a producer id but no sequence: %w", h.ProducerID, ErrInvalidRecord)
	}
	if e == nil {
		// No state (new producer, or its batches left the log by
		// retention): any sequence is accepted, as in Kafka since KIP-360.
		return nil, nil
	}
	if h.ProducerEpoch < e.Epoch {
		return nil, fmt.Errorf("producer %d: epoch %d older than current %d: %w", h.ProducerID, h.ProducerEpoch, e.Epoch, ErrInvalidProducerEpoch)
	}
	if h.ProducerEpoch > e.Epoch {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d: new epoch %d must start at sequence 0, got %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, ErrOutOfOrderSequence)
		}
		return nil, nil
	}
	last := h.LastSequence()
	for i := range e.Batches {
		if b := &e.Batches[i]; b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return b, nil
		}
	}
	if ls, ok := e.lastSeq(); ok && !inSequence(ls, h.BaseSequence) {
		return nil, fmt.Errorf("producer %d epoch %d: expected sequence %d, got %d: %w", h.ProducerID, h.ProducerEpoch, seqAdd(ls, 1), h.BaseSequence, ErrOutOfOrderSequence)
	}
	return nil, nil
}

// update applies a written batch (client, replicated or recovered) to the
// state. marker is the control record type for control batches.
func (ps *producerState) update(h *header, marker controlMarker) {
	if !h.HasProducer() {
		return
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{ID: h.ProducerID, Epoch: h.ProducerEpoch, TxnFirstOffset: -1, CoordinatorEpoch: -1}
		ps.m[h.ProducerID] = e
	}
	if h.ProducerEpoch > e.Epoch {
		e.Epoch = h.ProducerEpoch
		e.Batches = e.Batches[:0]
	}
	e.LastTimestamp = h.MaxTimestamp
	e.LastOffset = h.LastOffset()
	if h.IsControl() {
		if marker.ok {
			if !marker.commit && e.TxnFirstOffset >= 0 {
				ps.aborted = append(ps.aborted, AbortedTransaction{ProducerID: h.ProducerID, FirstOffset: e.TxnFirstOffset, LastOffset: h.BaseOffset})
			}
			e.TxnFirstOffset = -1
			e.CoordinatorEpoch = marker.coordinatorEpoch
		}
		return
	}
	if h.IsTransactional() && e.TxnFirstOffset < 0 {
		e.TxnFirstOffset = h.BaseOffset
	}
	if h.BaseSequence >= 0 {
		if len(e.Batches) == producerBatchesKept {
			copy(e.Batches, e.Batches[1:])
			e.Batches = e.Batches[:producerBatchesKept-1]
		}
		e.Batches = append(e.Batches, batchMeta{
			FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(),
			FirstOffset: h.BaseOffset, LastOffset: h.LastOffset(), Timestamp: h.MaxTimestamp,
		})
	}
}

// firstUnstableOffset is the first offset of the oldest open transaction,
// or -1.
func (ps *producerState) firstUnstableOffset() int64 {
	first := int64(-1)
	for _, e := range ps.m {
		if e.TxnFirstOffset >= 0 && (first < 0 || e.TxnFirstOffset < first) {
			first = e.TxnFirstOffset
		}
	}
	return first
}

// abortedIn returns aborted transactions overlapping [from, to).
func (ps *producerState) abortedIn(from, to int64) []AbortedTransaction {
	i := sort.Search(len(ps.aborted), func(i int) bool { return ps.aborted[i].LastOffset >= from })
	var out []AbortedTransaction
	for ; i < len(ps.aborted); i++ {
		if a := ps.aborted[i]; a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// truncateFromStart forgets what lies wholly before the log start.
func (ps *producerState) truncateFromStart(logStart int64) {
	for id, e := range ps.m {
		if e.LastOffset < logStart && e.TxnFirstOffset < 0 {
			delete(ps.m, id)
		}
	}
	i := sort.Search(len(ps.aborted), func(i int) bool { return ps.aborted[i].LastOffset >= logStart })
	ps.aborted = append(ps.aborted[:0], ps.aborted[i:]...)
}

// expire drops idle producers whose last batch is older than cutoff (ms)
// and that have no open transaction (producer.id.expiration.ms).
func (ps *producerState) expire(cutoff int64) {
	for id, e := range ps.m {
		if e.TxnFirstOffset < 0 && e.LastTimestamp < cutoff {
			delete(ps.m, id)
		}
	}
}

// controlMarker is a decoded transaction marker (control record).
type controlMarker struct {
	ok               bool
	commit           bool
	coordinatorEpoch int32
}

// Snapshot file: "<20-digit offset>.snapshot", the producer state as of
// that offset (every batch below it applied). Binary, big endian:
//
//	magic "SLPS" | version u16 | crc32c u32 (of everything after it)
//	offset i64 | producers u32 | aborted u32
//	per producer: id i64, epoch i16, coordEpoch i32, lastTs i64, lastOffset i64, txnFirst i64, nbatches u8,
//	              nbatches x (firstSeq i32, lastSeq i32, firstOffset i64, lastOffset i64, ts i64)
//	per aborted:  producerID i64, firstOffset i64, lastOffset i64
const (
	snapshotMagic    = "SLPS"
	snapshotHeader   = 4 + 2 + 4
	snapProducerSize = 8 + 2 + 4 + 8 + 8 + 8 + 1
	snapBatchSize    = 4 + 4 + 8 + 8 + 8
	snapAbortedSize  = 24
)

func (ps *producerState) encodeSnapshot(offset int64) []byte {
	ids := make([]int64, 0, len(ps.m))
	for id := range ps.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, snapshotHeader, 64+len(ids)*(snapProducerSize+producerBatchesKept*snapBatchSize))
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[4:], 1)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ps.aborted)))
	for _, id := range ids {
		e := ps.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(e.ID))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.CoordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastTimestamp))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(e.TxnFirstOffset))
		b = append(b, byte(len(e.Batches)))
		for _, m := range e.Batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.FirstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.Timestamp))
		}
	}
	for _, a := range ps.aborted {
		b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	}
	binary.BigEndian.PutUint32(b[6:], crc32.Checksum(b[snapshotHeader:], crcTable))
	return b
}

// decodeSnapshot parses a snapshot file. Every count is checked against
// the bytes present before anything is allocated from it.
func decodeSnapshot(b []byte) (*producerState, int64, error) {
	if len(b) < snapshotHeader+16 || string(b[:4]) != snapshotMagic {
		return nil, 0, fmt.Errorf("not a producer snapshot")
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != 1 {
		return nil, 0, fmt.Errorf("unknown snapshot version %d", v)
	}
	if want, got := binary.BigEndian.Uint32(b[6:]), crc32.Checksum(b[snapshotHeader:], crcTable); want != got {
		return nil, 0, fmt.Errorf("snapshot CRC mismatch: stored %#08x, computed %#08x", want, got)
	}
	r := b[snapshotHeader:]
	offset := int64(binary.BigEndian.Uint64(r))
	np := int(binary.BigEndian.Uint32(r[8:]))
	na := int(binary.BigEndian.Uint32(r[12:]))
	r = r[16:]
	if np > len(r)/snapProducerSize || na > len(r)/snapAbortedSize {
		return nil, 0, fmt.Errorf("snapshot counts exceed its size")
	}
	ps := &producerState{m: make(map[int64]*producerEntry, np)}
	for i := 0; i < np; i++ {
		if len(r) < snapProducerSize {
			return nil, 0, fmt.Errorf("snapshot truncated in producer %d", i)
		}
		e := &producerEntry{
			ID:               int64(binary.BigEndian.Uint64(r)),
			Epoch:            int16(binary.BigEndian.Uint16(r[8:])),
			CoordinatorEpoch: int32(binary.BigEndian.Uint32(r[10:])),
			LastTimestamp:    int64(binary.BigEndian.Uint64(r[14:])),
			LastOffset:       int64(binary.BigEndian.Uint64(r[22:])),
			TxnFirstOffset:   int64(binary.BigEndian.Uint64(r[30:])),
		}
		nb := int(r[38])
		r = r[snapProducerSize:]
		if nb > producerBatchesKept || len(r) < nb*snapBatchSize {
			return nil, 0, fmt.Errorf("snapshot producer %d: bad batch count %d", e.ID, nb)
		}
		for j := 0; j < nb; j++ {
			e.Batches = append(e.Batches, batchMeta{
				FirstSeq:    int32(binary.BigEndian.Uint32(r)),
				LastSeq:     int32(binary.BigEndian.Uint32(r[4:])),
				FirstOffset: int64(binary.BigEndian.Uint64(r[8:])),
				LastOffset:  int64(binary.BigEndian.Uint64(r[16:])),
				Timestamp:   int64(binary.BigEndian.Uint64(r[24:])),
			})
			r = r[snapBatchSize:]
		}
		ps.m[e.ID] = e
	}
	if len(r) != na*snapAbortedSize {
		return nil, 0, fmt.Errorf("snapshot: %d trailing bytes for %d aborted transactions", len(r), na)
	}
	for i := 0; i < na; i++ {
		ps.aborted = append(ps.aborted, AbortedTransaction{
			ProducerID:  int64(binary.BigEndian.Uint64(r)),
			FirstOffset: int64(binary.BigEndian.Uint64(r[8:])),
			LastOffset:  int64(binary.BigEndian.Uint64(r[16:])),
		})
		r = r[snapAbortedSize:]
	}
	return ps, offset, nil
}
