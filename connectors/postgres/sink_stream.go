package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/sluicehq/sluice/connectors"
)

// Streaming writes: for the plainest and most common batch — insert mode,
// no key, no exactly-once, one table — the sink plans the COPY from the
// first records and parses the rest in the background while COPY streams,
// so parsing overlaps with the server's work instead of preceding it.
// Records that turn out not to fit the plan (a field the COPY does not
// carry) are set aside and written, after the table is evolved, by a second
// COPY in the same transaction.

const (
	// streamPrefix records are parsed before the COPY starts; they decide
	// its columns.
	streamPrefix = 256
	// streamChunk records are parsed per background step.
	streamChunk = 512
	// streamMin is the smallest batch worth streaming.
	streamMin = 4 * streamPrefix
)

// errFallback asks Write to redo the batch the ordinary way.
var errFallback = errors.New("streaming write fell back")

func (s *Sink) streamable(batch []connectors.Record) bool {
	if len(batch) < streamMin || s.cfg.exactlyOnce || s.cfg.upsert || s.cfg.pkMode != PKModeNone {
		return false
	}
	topic := batch[0].Topic
	for i := range batch {
		if batch[i].Topic != topic {
			return false
		}
	}
	return checkIdentifier("table", s.cfg.tableFor(topic)) == nil
}

// writeStreaming writes a streamable batch. It returns errFallback when the
// ordinary path should take over (after a refusal it could not make inside
// the COPY, or when the plan cannot be made from the prefix).
func (s *Sink) writeStreaming(ctx context.Context, batch []connectors.Record, refused refusals) (err error) {
	name := s.cfg.tableFor(batch[0].Topic)
	vals := make([]*jvalue, len(batch))
	errs := make([]error, len(batch))
	parse := func(lo, hi int) {
		var a arena
		for i := lo; i < hi; i++ {
			if batch[i].Value != nil {
				vals[i], errs[i] = parseObjectIn(batch[i].Value, &a)
			}
		}
	}
	parse(0, streamPrefix)

	// The rest is parsed in the background, in chunks, by all CPUs but the
	// one the COPY stream uses; every goroutine ends before we return.
	nChunks := (len(batch) - streamPrefix + streamChunk - 1) / streamChunk
	done := make([]chan struct{}, nChunks)
	for c := range done {
		done[c] = make(chan struct{})
	}
	next := make(chan int, nChunks)
	for c := 0; c < nChunks; c++ {
		next <- c
	}
	close(next)
	var wg sync.WaitGroup
	for w := 0; w < max(1, runtime.GOMAXPROCS(0)-1); w++ {
		wg.Go(func() {
			for c := range next {
				lo := streamPrefix + c*streamChunk
				parse(lo, min(lo+streamChunk, len(batch)))
				close(done[c])
			}
		})
	}
	defer wg.Wait()

	toRow := func(i int) *row {
		if batch[i].Value == nil {
			return nil // a tombstone: nothing to insert
		}
		if errs[i] != nil {
			e := errs[i]
			if !errors.Is(e, ErrBadValue) {
				e = fmt.Errorf("%w: %v", ErrBadValue, e)
			}
			refused.add(i, e)
			return nil
		}
		return &row{idx: i, rec: &batch[i], val: vals[i]}
	}
	g := &group{name: name, keyFrom: PKModeNone}
	for i := 0; i < streamPrefix; i++ {
		if r := toRow(i); r != nil {
			g.rows = append(g.rows, r)
		}
	}
	if err := s.plan(ctx, g, refused); err != nil {
		return err
	}
	if g.t == nil || len(g.cols) == 0 {
		return errFallback
	}
	inCopy := map[int]bool{}
	for _, c := range g.cols {
		inCopy[c.col] = true
	}
	var fitting []string // field names of the last record that fit
	fits := func(r *row) bool {
		if fitting != nil && sameNames(r.val, fitting) {
			return true
		}
		ok, cacheable := true, true
		names := make([]string, 0, len(r.val.fields))
		r.val.Object(func(k string, v *jvalue) bool {
			names = append(names, k)
			ci, found := g.t.column(k)
			switch {
			case found && inCopy[ci]:
				return true
			case !found && v.kind == kNull:
				cacheable = false // fits only while it stays null
				return true
			}
			ok = false
			return false
		})
		if ok && cacheable {
			fitting = names
		}
		return ok
	}
	var deferred []*row
	i := streamPrefix
	more := func() *row {
		for i < len(batch) {
			c := (i - streamPrefix) / streamChunk
			<-done[c]
			r := toRow(i)
			i++
			if r == nil {
				continue
			}
			if !fits(r) {
				deferred = append(deferred, r)
				continue
			}
			return r
		}
		return nil
	}

	// One COPY, atomic by itself, as a raw CopyFrom would be.
	rd := &copyReader{s: s, g: g, rows: g.rows, refused: refused, binary: g.binary(), more: more}
	if cul, err := s.copyFrom(ctx, s.conn, rd, copySQL(g, g.t.ident), g.t.ident); err != nil {
		if cul != nil {
			refused.add(cul.idx, fmt.Errorf("%s: %s", cul.where, describePgError(err)))
			return errFallback // nothing was written; redo without it
		}
		if isDataError(err) {
			return errFallback
		}
		return err
	}
	sinkRows.WithLabelValues(s.task.Connector, name, "insert").Add(float64(len(rd.lines)))
	if len(deferred) == 0 {
		return nil
	}
	// Records with fields the COPY did not carry go the ordinary way: the
	// table evolves and they are written in a transaction of their own. (If
	// that fails for good, the worker retries the whole batch and the part
	// already written is written again: insert mode without a key promises
	// at least once.)
	g2 := &group{name: name, keyFrom: PKModeNone, rows: deferred}
	for attempt := 0; ; attempt++ {
		err := s.writeBatch(ctx, batch, []*group{g2}, refused)
		if err == nil {
			return nil
		}
		if !(errors.Is(err, errStale) && attempt < 3) {
			return fmt.Errorf("%w (after the first %d records were written)", err, len(rd.lines))
		}
		s.tables = map[string]*table{}
	}
}
