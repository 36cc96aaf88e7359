// Package postgres holds Sluice's PostgreSQL connectors, registered with the
// connectors SDK under these names:
//
//   - postgres-sink: writes records into tables.
//   - postgres-cdc-source: change data capture by logical replication.
//   - postgres-poll-source: rows of a table or query, by polling.
//
// # Sink
//
// Each Write is one transaction (a batch that is a single plain COPY runs in
// autocommit, which is as atomic). Rows go in with COPY, in binary format when
// every column has a binary encoder here and in text format otherwise, where
// PostgreSQL's own input functions parse. insert.mode=upsert copies into a
// temporary staging table and applies INSERT ... ON CONFLICT DO UPDATE; with
// a key, insert mode is insert-if-absent (ON CONFLICT DO NOTHING), so
// redelivery adds nothing. Within a batch only the last record per key
// counts, and a tombstone (delete.enabled) deletes its key before any later
// record of that key is written, so the table ends as if each record had
// been applied in order.
//
// Values are JSON objects, typed by their Arrow schema (Record.Schema) where
// they carry one and inferred otherwise: integers are bigint, other numbers
// double precision, strings text, objects jsonb, arrays of one scalar type
// arrays of it, and fields whose values disagree jsonb (which holds any JSON
// losslessly). auto.create makes a missing table (with a primary key on the
// key columns); auto.evolve adds nullable columns for new fields. Existing
// columns keep their types: the sink converts to them (numeric, timestamptz,
// uuid, jsonb, bytea from base64, arrays, ...), following the JSON
// conventions of connectors/schema. The PGTypeMetadataKey field metadata
// ("pg.type") carries PostgreSQL types Arrow cannot express (interval, inet,
// enums, unconstrained numeric) from the CDC source to the sink.
//
// Records that cannot be written — not JSON, not an object, a value its
// column rejects, a violated constraint — are refused individually
// (*connectors.RecordErrors: the worker applies errors.tolerance and the
// dead-letter topic) and the rest of the batch is committed. COPY errors name
// their line, which identifies the record; other data errors make the sink
// redo the batch record by record behind savepoints. Connection failures,
// a restarting database and serialization failures are Retriable: nothing is
// half-written, the connection is reopened on the next call, and the worker
// retries with backoff.
//
// exactly.once stores, per connector and topic-partition, the next offset in
// a table (sluice_sink_offsets) in the same transaction as the rows, reads
// (and row-locks) it at the start of every transaction to skip records
// already applied, and tells the worker where to resume (StoredOffsets). So
// each record is applied exactly once across worker crashes, redelivery and
// database outages, in every insert mode, even without a key.
//
// # CDC source
//
// Uses the pgoutput plugin (protocol 1) on a slot (slot.name) and a
// publication (publication.name), creating them when missing and allowed.
// A new slot exports its snapshot: every row of the published tables is read
// in that snapshot (REPEATABLE READ, a cursor, a batch per Poll) and emitted
// with op "r", then the stream continues exactly from the slot's consistent
// point. Records are keyed by the primary key (or replica identity) as a JSON
// object. value.format=envelope (default) gives Debezium-shaped values
// {"before", "after", "op", "ts_ms", "source": {db, schema, table, lsn, txid,
// snapshot}}, with an Arrow schema built from the relation; a delete is a
// delete event followed by a tombstone (tombstones.on.delete); an update
// that changes the key is a delete of the old key and a create of the new.
// value.format=row gives just the new row (deletes are tombstones), which
// postgres-sink with upsert and delete.enabled turns into a mirror table.
//
// Positions mark transaction boundaries: the end LSN of the last transaction
// delivered whole, plus, for a transaction larger than a batch, how many of
// its changes were delivered, so a restart skips exactly those. The slot's
// confirmed flush LSN moves only in Commit, once the worker has the records
// durably in the log. Standby status updates go out every status.interval;
// while nothing is in flight they confirm the server's sent position, so a
// quiet publication does not hold WAL. heartbeat.action.query runs a write
// every heartbeat.interval for databases with no other traffic. The source
// never drops its slot: drop it (pg_drop_replication_slot) when you delete
// the connector, or the server keeps WAL for it.
//
// Limitations: unchanged TOASTed values of an update are omitted from the
// new row unless the table has REPLICA IDENTITY FULL; TRUNCATE is emitted
// only in envelope format (op "t"); a snapshot that breaks off (a crash
// during the initial read) is read again without the exported snapshot, so
// some of its rows may be emitted twice.
//
// # Polling source
//
// Reads a table or a query, ordered by an incrementing column, a timestamp
// column, or both (mode), resuming after the position stored in the log.
// timestamp.delay leaves recent rows for the next poll, so transactions still
// committing with earlier timestamps are not skipped. Like Kafka Connect's
// JDBC source it sees rows as they are when polled: deletes and intermediate
// updates are invisible; use the CDC source when they matter.
//
// # Metrics
//
// Counters and gauges named sluice_postgres_* are registered with the
// task's TaskInfo.Metrics, so the worker serves them on its /metrics.
//
// # Tests and benchmarks
//
// Integration tests start throwaway PostgreSQL clusters with internal/pgtest
// (skipped with -short). The sink's throughput against a raw pgx CopyFrom of
// the same rows into the same table shape:
//
//	go test -run '^$' -bench SinkVsCopy -benchtime 20x ./connectors/postgres/
package postgres
