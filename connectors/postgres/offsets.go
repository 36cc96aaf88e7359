package postgres

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

// The exactly-once sink keeps, per (connector, topic, partition), the next
// offset to consume in a table it writes in the same transaction as the
// rows. After any crash the table and the rows agree, and the worker resumes
// from the table (StoredOffsets), so nothing is applied twice or skipped.
// To replay a topic into the table, delete the connector's rows here.

func (s *Sink) offsetsIdent() string { return quoteIdent(s.cfg.schema, s.cfg.offsetsTable) }

func (s *Sink) ensureOffsetsTable(ctx context.Context) error {
	if s.offsetsOK {
		return nil
	}
	_, err := s.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.offsetsIdent()+` (
	connector   text        NOT NULL,
	topic       text        NOT NULL,
	partition   integer     NOT NULL,
	next_offset bigint      NOT NULL,
	updated_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (connector, topic, partition))`)
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create offsets table %s: %w", s.offsetsIdent(), err)
	}
	s.offsetsOK = true
	return nil
}

// StoredOffsets returns the offsets stored for the given partitions, so the
// worker resumes exactly where the last committed transaction ended. Without
// exactly.once the sink stores nothing and the group's offsets apply.
func (s *Sink) StoredOffsets(ctx context.Context, partitions []connectors.TopicPartition) (connectors.Offsets, error) {
	if !s.cfg.exactlyOnce || len(partitions) == 0 {
		return nil, nil
	}
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if err := s.ensureOffsetsTable(ctx); err != nil {
		return nil, s.classify(err)
	}
	topics, parts := splitTPs(partitions)
	rows, err := s.conn.Query(ctx, `SELECT topic, partition, next_offset FROM `+s.offsetsIdent()+`
WHERE connector = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))`,
		s.task.Connector, topics, parts)
	if err != nil {
		return nil, s.classify(fmt.Errorf("read stored offsets: %w", err))
	}
	out, err := scanOffsets(rows)
	if err != nil {
		return nil, s.classify(fmt.Errorf("read stored offsets: %w", err))
	}
	return out, nil
}

// lockOffsets reads (and row-locks, so a zombie task cannot interleave) the
// stored offsets of the partitions in a batch, inside the write transaction.
func (s *Sink) lockOffsets(ctx context.Context, q queryer, tps []connectors.TopicPartition) (connectors.Offsets, error) {
	topics, parts := splitTPs(tps)
	rows, err := q.Query(ctx, `SELECT topic, partition, next_offset FROM `+s.offsetsIdent()+`
WHERE connector = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))
FOR UPDATE`, s.task.Connector, topics, parts)
	if err != nil {
		return nil, fmt.Errorf("lock stored offsets: %w", err)
	}
	return scanOffsets(rows)
}

// storeOffsets records the next offset per partition, never moving one back.
func (s *Sink) storeOffsets(ctx context.Context, q queryer, next connectors.Offsets) error {
	if len(next) == 0 {
		return nil
	}
	topics := make([]string, 0, len(next))
	parts := make([]int32, 0, len(next))
	offs := make([]int64, 0, len(next))
	for tp, o := range next {
		topics = append(topics, tp.Topic)
		parts = append(parts, tp.Partition)
		offs = append(offs, o)
	}
	_, err := q.Exec(ctx, `INSERT INTO `+s.offsetsIdent()+` AS o (connector, topic, partition, next_offset)
SELECT $1, t, p, n FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
ON CONFLICT (connector, topic, partition)
DO UPDATE SET next_offset = GREATEST(o.next_offset, EXCLUDED.next_offset), updated_at = now()`,
		s.task.Connector, topics, parts, offs)
	if err != nil {
		return fmt.Errorf("store offsets: %w", err)
	}
	return nil
}

func splitTPs(tps []connectors.TopicPartition) ([]string, []int32) {
	topics := make([]string, len(tps))
	parts := make([]int32, len(tps))
	for i, tp := range tps {
		topics[i], parts[i] = tp.Topic, tp.Partition
	}
	return topics, parts
}

type rowsScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

func scanOffsets(rows rowsScanner) (connectors.Offsets, error) {
	defer rows.Close()
	out := connectors.Offsets{}
	for rows.Next() {
		var (
			tp  connectors.TopicPartition
			off int64
		)
		if err := rows.Scan(&tp.Topic, &tp.Partition, &off); err != nil {
			return nil, err
		}
		out[tp] = off
	}
	return out, rows.Err()
}
