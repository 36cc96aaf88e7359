package worker

import (
	"context"
	"fmt"

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
		cb, bad := buildColumns(run)
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

// buildColumns decodes a run of non-tombstone records into one batch.
func buildColumns(run []connectors.Record) (connectors.ColumnBatch, []refusal) {
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
		s = in.Schema()
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
