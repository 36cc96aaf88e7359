package worker

import (
	"context"
	"fmt"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// deliverColumns feeds a ColumnSink: runs of records with the same
// topic-partition and schema become Arrow record batches (schema from the
// record, inferred from the run's values otherwise); tombstones go through
// Write, in order. Values that do not decode are refused like records the
// sink refuses.
func (t *sinkTask) deliverColumns(ctx context.Context, batch []connectors.Record) ([]refusal, error) {
	var refused []refusal
	var pending []connectors.ColumnBatch
	release := func() {
		for _, cb := range pending {
			cb.Columns.Release()
		}
		pending = nil
	}
	defer release()
	writePending := func() error {
		if len(pending) == 0 {
			return nil
		}
		var all []connectors.Record
		for _, cb := range pending {
			all = append(all, cb.Records...)
		}
		err := t.env.policy.do(ctx, func() error { return t.col.WriteColumns(ctx, pending) })
		release()
		rf, err := t.refusals(all, err, "write columns")
		refused = append(refused, rf...)
		return err
	}
	for i := 0; i < len(batch); {
		j := i + 1
		for j < len(batch) && sameRun(&batch[i], &batch[j]) {
			j++
		}
		run := batch[i:j]
		i = j
		if run[0].Value == nil {
			if err := writePending(); err != nil {
				return nil, err
			}
			rf, err := t.write(ctx, run, nil)
			if err != nil {
				return nil, err
			}
			refused = append(refused, rf...)
			continue
		}
		cb, bad := t.buildColumns(run)
		refused = append(refused, bad...)
		if cb.Columns != nil {
			pending = append(pending, cb)
		}
	}
	if err := writePending(); err != nil {
		return nil, err
	}
	return refused, nil
}

func sameRun(a, b *connectors.Record) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && a.Schema == b.Schema && (a.Value == nil) == (b.Value == nil)
}

// inferredSchema is the schema a sink task settled on for a
// topic-partition's schemaless values, so batches keep one schema while the
// data allows instead of flipping with each batch's sample.
type inferredSchema struct {
	schema   *arrow.Schema
	nullOnly map[string]bool // fields no value has typed yet
}

// buildColumns decodes a run of non-tombstone records into one batch.
func (t *sinkTask) buildColumns(run []connectors.Record) (connectors.ColumnBatch, []refusal) {
	var bad []refusal
	s := run[0].Schema
	ok := run
	if s == nil {
		var in schema.Inferrer
		ok = ok[:0:0]
		for _, r := range run {
			if err := in.Observe(r.Value); err != nil {
				bad = append(bad, refusal{rec: r, err: fmt.Errorf("decode value: %w", err)})
				continue
			}
			ok = append(ok, r)
		}
		s = t.settleSchema(connectors.TopicPartition{Topic: run[0].Topic, Partition: run[0].Partition}, &in)
	}
	if len(ok) == 0 {
		return connectors.ColumnBatch{}, bad
	}
	rb := schema.NewRecordBuilder(memory.DefaultAllocator, s)
	defer rb.Release()
	kept := make([]connectors.Record, 0, len(ok))
	for _, r := range ok {
		if err := rb.AppendJSON(r.Value); err != nil {
			bad = append(bad, refusal{rec: r, err: fmt.Errorf("decode value: %w", err)})
			continue
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return connectors.ColumnBatch{}, bad
	}
	return connectors.ColumnBatch{
		TopicPartition: connectors.TopicPartition{Topic: run[0].Topic, Partition: run[0].Partition},
		Columns:        rb.NewRecord(),
		Records:        kept,
	}, bad
}

// settleSchema merges a run's inferred schema into the one the partition
// has been using: fields are added and widened (int64 → float64), fields
// that were only ever null take the first real type, and only a true
// conflict (a string field now holding objects) starts a new schema.
func (t *sinkTask) settleSchema(tp connectors.TopicPartition, in *schema.Inferrer) *arrow.Schema {
	cur := in.Schema()
	nulls := in.NullFields()
	if t.inferred == nil {
		t.inferred = map[connectors.TopicPartition]*inferredSchema{}
	}
	prev := t.inferred[tp]
	if prev == nil {
		t.inferred[tp] = &inferredSchema{schema: cur, nullOnly: nulls}
		return cur
	}
	// Let evidence replace guesses: drop null-only fields from whichever
	// side has no real type for them.
	keepPrev := make([]arrow.Field, 0, prev.schema.NumFields())
	for _, f := range prev.schema.Fields() {
		if prev.nullOnly[f.Name] && !nulls[f.Name] && len(cur.FieldIndices(f.Name)) > 0 {
			i := cur.FieldIndices(f.Name)[0]
			keepPrev = append(keepPrev, cur.Field(i))
			continue
		}
		keepPrev = append(keepPrev, f)
	}
	keepCur := make([]arrow.Field, 0, cur.NumFields())
	for _, f := range cur.Fields() {
		if nulls[f.Name] && len(prev.schema.FieldIndices(f.Name)) > 0 {
			continue
		}
		keepCur = append(keepCur, f)
	}
	merged, err := schema.Merge(arrow.NewSchema(keepPrev, nil), arrow.NewSchema(keepCur, nil))
	if err != nil {
		t.env.log.Info("inferred schema changed incompatibly; starting a new one", "topic", tp.Topic, "partition", tp.Partition, "err", err)
		t.inferred[tp] = &inferredSchema{schema: cur, nullOnly: nulls}
		return cur
	}
	nullOnly := map[string]bool{}
	for name := range prev.nullOnly {
		if nulls[name] || len(cur.FieldIndices(name)) == 0 {
			nullOnly[name] = true
		}
	}
	for name := range nulls {
		if len(prev.schema.FieldIndices(name)) == 0 {
			nullOnly[name] = true
		}
	}
	if merged.Equal(prev.schema) {
		merged = prev.schema // keep the pointer: sinks may compare schemas by identity
	}
	t.inferred[tp] = &inferredSchema{schema: merged, nullOnly: nullOnly}
	return merged
}
