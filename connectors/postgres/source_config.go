package postgres

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

// Plugin names of the sources.
const (
	CDCSourcePluginName  = "postgres-cdc-source"
	PollSourcePluginName = "postgres-poll-source"
)

// Value formats of the CDC source.
const (
	// ValueFormatEnvelope: {"before", "after", "op", "ts_ms", "source"},
	// as Debezium writes them.
	ValueFormatEnvelope = "envelope"
	// ValueFormatRow: the row after the change; deletes are tombstones
	// only. What a sink that mirrors the table wants.
	ValueFormatRow = "row"
)

var connectionFields = connectors.ConfigSpec{
	{Name: "connection.url", Type: connectors.TypeString, Required: true, Group: "Connection",
		Doc: "PostgreSQL connection string, as a URL (postgres://user@host:5432/db) or key=value pairs."},
	{Name: "connection.user", Type: connectors.TypeString, Group: "Connection",
		Doc: "User name; overrides the one in connection.url."},
	{Name: "connection.password", Type: connectors.TypePassword, Group: "Connection",
		Doc: "Password; overrides the one in connection.url."},
	{Name: "connection.timeout", Type: connectors.TypeDuration, Default: "10s", Group: "Connection", Validate: connectors.Positive,
		Doc: "How long to wait for a connection before the attempt counts as failed (and is retried)."},
}

var sourceCommonFields = connectors.ConfigSpec{
	{Name: "topic.prefix", Type: connectors.TypeString, Group: "Topics",
		Doc: "Records of table s.t go to topic <topic.prefix>.s.t. When empty, the worker's topic setting names one topic for all tables; when that is empty too, the prefix is the connector name."},
	{Name: "max.batch.size", Type: connectors.TypeInt, Default: "2048", Group: "Source", Validate: connectors.Between(1, 1_000_000),
		Doc: "Most records one poll returns."},
}

// CDCSourceSpec is the change-data-capture source's configuration.
var CDCSourceSpec = connectionFields.Merge(connectors.ConfigSpec{
	{Name: "slot.name", Type: connectors.TypeString, Group: "Replication", Validate: validSlotName,
		Doc: "Logical replication slot (lower-case letters, digits, underscores). Default: sluice_<connector>. The connector never drops it: drop it yourself (pg_drop_replication_slot) when you delete the connector, or it keeps WAL."},
	{Name: "slot.create", Type: connectors.TypeBool, Default: "true", Group: "Replication",
		Doc: "Create the slot (with the pgoutput plugin) when it does not exist."},
	{Name: "publication.name", Type: connectors.TypeString, Group: "Replication", Validate: validSlotName,
		Doc: "Publication whose tables are captured. Default: sluice_<connector>."},
	{Name: "publication.create", Type: connectors.TypeBool, Default: "true", Group: "Replication",
		Doc: "Create the publication when it does not exist: for publication.tables, or FOR ALL TABLES when that is empty."},
	{Name: "publication.tables", Type: connectors.TypeList, Group: "Replication",
		Doc: "Tables (schema.table or table) the created publication covers."},
	{Name: "snapshot.mode", Type: connectors.TypeEnum, Enum: []string{"initial", "never"}, Default: "initial", Group: "Replication",
		Doc: "initial: first emit every existing row (op r), read in the snapshot the slot was created at, then stream changes. never: stream changes only."},
	{Name: "value.format", Type: connectors.TypeEnum, Enum: []string{ValueFormatEnvelope, ValueFormatRow}, Default: ValueFormatEnvelope, Group: "Records",
		Doc: "envelope: before/after/op/ts_ms/source, as Debezium. row: the new row only; a delete is a tombstone."},
	{Name: "tombstones.on.delete", Type: connectors.TypeBool, Default: "true", Group: "Records",
		Doc: "In envelope format, follow each delete event with a tombstone (null value) for its key, so compacted topics forget the row."},
	{Name: "status.interval", Type: connectors.TypeDuration, Default: "10s", Group: "Replication", Validate: connectors.Positive,
		Doc: "How often to send the server a standby status update (a heartbeat that also confirms what is durably in the log, so the slot releases WAL even when the captured tables are quiet)."},
	{Name: "heartbeat.interval", Type: connectors.TypeDuration, Default: "0", Group: "Replication",
		Doc: "When positive, run heartbeat.action.query this often (as Debezium's heartbeat.action.query): a write that keeps the slot moving in a database with no other traffic."},
	{Name: "heartbeat.action.query", Type: connectors.TypeString, Group: "Replication",
		Doc: "SQL run every heartbeat.interval on a normal connection, e.g. INSERT INTO heartbeat (id, ts) VALUES (1, now()) ON CONFLICT (id) DO UPDATE SET ts = now()."},
}).Merge(sourceCommonFields)

// PollSourceSpec is the query-polling source's configuration.
var PollSourceSpec = connectionFields.Merge(connectors.ConfigSpec{
	{Name: "table", Type: connectors.TypeString, Group: "Query",
		Doc: "Table to poll (schema.table or table). Either table or query is required."},
	{Name: "query", Type: connectors.TypeString, Group: "Query",
		Doc: "SELECT to poll instead of a whole table; the connector wraps it and adds its own WHERE and ORDER BY on the tracking columns."},
	{Name: "mode", Type: connectors.TypeEnum, Enum: []string{"incrementing", "timestamp", "timestamp+incrementing"}, Default: "incrementing", Group: "Query",
		Doc: "incrementing: rows with a larger incrementing.column than the last seen (new rows). timestamp: rows with a newer timestamp.column (new and updated rows). timestamp+incrementing: both, the robust choice for updates."},
	{Name: "incrementing.column", Type: connectors.TypeString, Group: "Query",
		Doc: "A strictly increasing integer column (a serial or identity key)."},
	{Name: "timestamp.column", Type: connectors.TypeString, Group: "Query",
		Doc: "A column set to the time of every insert and update."},
	{Name: "timestamp.delay", Type: connectors.TypeDuration, Default: "0", Group: "Query",
		Doc: "Only read rows whose timestamp is at least this old, so transactions still in flight with earlier timestamps are not skipped."},
	{Name: "poll.interval", Type: connectors.TypeDuration, Default: "1s", Group: "Query", Validate: connectors.Positive,
		Doc: "How long to wait between queries when the last one found nothing new."},
	{Name: "key.columns", Type: connectors.TypeList, Group: "Records",
		Doc: "Columns that form the record key (a JSON object). Default: the table's primary key, or none for a query."},
}).Merge(sourceCommonFields)

var slotNameRE = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func validSlotName(v any) error {
	if s, _ := v.(string); s != "" && !slotNameRE.MatchString(s) {
		return fmt.Errorf("%q: use 1 to 63 lower-case letters, digits and underscores", s)
	}
	return nil
}

// defaultName makes sluice_<connector> into a valid slot or publication
// name.
func defaultName(connector string) string {
	var b strings.Builder
	b.WriteString("sluice_")
	for _, r := range strings.ToLower(connector) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// topicNamer decides the topic of a table's records.
type topicNamer struct {
	prefix string // empty: Topic left empty, the worker's topic applies
}

func newTopicNamer(cfg connectors.Config, connector string) topicNamer {
	if p := cfg.String("topic.prefix"); p != "" {
		return topicNamer{prefix: p}
	}
	if cfg.String("topic") != "" {
		return topicNamer{}
	}
	return topicNamer{prefix: connector}
}

func (n topicNamer) topic(schema, table string) string {
	if n.prefix == "" {
		return ""
	}
	return n.prefix + "." + schema + "." + table
}

// sourceConnConfig builds the connection config of a source.
func sourceConnConfig(cfg connectors.Config, kind, connector string) (*pgx.ConnConfig, error) {
	cc, err := connConfig(cfg, "sluice-"+kind+"-"+connector)
	if err != nil {
		return nil, &connectors.ConfigError{Errors: []connectors.FieldError{{Field: "connection.url", Message: err.Error()}}}
	}
	return cc, nil
}

// splitTableName parses "schema.table" or "table" (public). Quoted parts
// are not supported; names are taken literally.
func splitTableName(s string) (schema, table string) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "public", s
}

// durationOr returns d, or def when d is not positive.
func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
