package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/connectors"
)

// SinkPluginName is the connector.class of the PostgreSQL sink.
const SinkPluginName = "postgres-sink"

// Insert modes.
const (
	InsertModeInsert = "insert" // COPY; with a unique key, insert-if-absent
	InsertModeUpsert = "upsert" // INSERT ... ON CONFLICT DO UPDATE from a staging table
)

// Primary key modes, as in Kafka Connect's JDBC sink.
const (
	PKModeNone        = "none"         // no key: plain inserts
	PKModeKafka       = "kafka"        // topic, partition, offset columns
	PKModeRecordKey   = "record_key"   // the record key (a JSON object's fields, or a scalar)
	PKModeRecordValue = "record_value" // named fields of the value
)

// DefaultKafkaPKFields are the column names of pk.mode=kafka, the same as
// Kafka Connect's so existing tables keep working.
var DefaultKafkaPKFields = []string{"__connect_topic", "__connect_partition", "__connect_offset"}

// DefaultOffsetsTable is where exactly.once stores consumed offsets.
const DefaultOffsetsTable = "sluice_sink_offsets"

// SinkSpec is the PostgreSQL sink's configuration.
var SinkSpec = connectors.ConfigSpec{
	{Name: "connection.url", Type: connectors.TypeString, Required: true, Group: "Connection",
		Doc: "PostgreSQL connection string, as a URL (postgres://user@host:5432/db) or key=value pairs."},
	{Name: "connection.user", Type: connectors.TypeString, Group: "Connection",
		Doc: "User name; overrides the one in connection.url."},
	{Name: "connection.password", Type: connectors.TypePassword, Group: "Connection",
		Doc: "Password; overrides the one in connection.url."},
	{Name: "connection.timeout", Type: connectors.TypeDuration, Default: "10s", Group: "Connection", Validate: connectors.Positive,
		Doc: "How long to wait for a connection before the attempt counts as failed (and is retried)."},
	{Name: "table.name.format", Type: connectors.TypeString, Default: "${topic}", Group: "Table",
		Doc: "Target table name; ${topic} is replaced by the record's topic."},
	{Name: "table.schema", Type: connectors.TypeString, Default: "public", Group: "Table",
		Doc: "PostgreSQL schema (namespace) of the target tables and of the offsets table."},
	{Name: "auto.create", Type: connectors.TypeBool, Default: "true", Group: "Table",
		Doc: "Create a missing table from the first records' fields (typed by their Arrow schema, or inferred from JSON)."},
	{Name: "auto.evolve", Type: connectors.TypeBool, Default: "true", Group: "Table",
		Doc: "Add a nullable column (ALTER TABLE ADD COLUMN) when a record has a field the table lacks. When false such records are refused."},
	{Name: "insert.mode", Type: connectors.TypeEnum, Enum: []string{InsertModeInsert, InsertModeUpsert}, Default: InsertModeInsert, Group: "Writes",
		Doc: "insert: COPY rows in (with a unique key: insert if absent, so redelivery adds nothing). upsert: insert or update on the key."},
	{Name: "pk.mode", Type: connectors.TypeEnum, Enum: []string{PKModeNone, PKModeKafka, PKModeRecordKey, PKModeRecordValue}, Default: PKModeNone, Group: "Writes",
		Doc: "Where the primary key comes from: none, kafka (topic, partition, offset), record_key (the key's JSON fields, or the key itself), record_value (fields of the value)."},
	{Name: "pk.fields", Type: connectors.TypeList, Group: "Writes",
		Doc: "Key column names. record_value: the value fields (required). record_key: the key fields to use (default all), or the column name of a scalar key (default id). kafka: three column names (default __connect_topic, __connect_partition, __connect_offset)."},
	{Name: "delete.enabled", Type: connectors.TypeBool, Default: "false", Group: "Writes",
		Doc: "Delete the row whose key a tombstone (null value) carries. Needs pk.mode=record_key. When false, tombstones are skipped."},
	{Name: "exactly.once", Type: connectors.TypeBool, Default: "false", Group: "Delivery",
		Doc: "Store consumed offsets in offsets.table in the same transaction as the rows, and resume from them, so every record is applied exactly once even across crashes and database outages."},
	{Name: "offsets.table", Type: connectors.TypeString, Default: DefaultOffsetsTable, Group: "Delivery",
		Doc: "Table holding consumed offsets for exactly.once, created if missing."},
}

// sinkConfig is the parsed, cross-checked sink configuration.
type sinkConfig struct {
	connConfig   *pgx.ConnConfig
	tableFormat  string
	schema       string
	autoCreate   bool
	autoEvolve   bool
	upsert       bool
	pkMode       string
	pkFields     []string
	deletes      bool
	exactlyOnce  bool
	offsetsTable string
}

func parseSinkConfig(cfg connectors.Config, connector string) (*sinkConfig, error) {
	var errs []connectors.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, connectors.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := &sinkConfig{
		tableFormat:  cfg.String("table.name.format"),
		schema:       cfg.String("table.schema"),
		autoCreate:   cfg.Bool("auto.create"),
		autoEvolve:   cfg.Bool("auto.evolve"),
		upsert:       cfg.String("insert.mode") == InsertModeUpsert,
		pkMode:       cfg.String("pk.mode"),
		pkFields:     cfg.List("pk.fields"),
		deletes:      cfg.Bool("delete.enabled"),
		exactlyOnce:  cfg.Bool("exactly.once"),
		offsetsTable: cfg.String("offsets.table"),
	}
	cc, err := connConfig(cfg, "sluice-sink-"+connector)
	if err != nil {
		bad("connection.url", "%v", err)
	}
	c.connConfig = cc
	if c.pkMode == "" {
		c.pkMode = PKModeNone
	}
	switch c.pkMode {
	case PKModeNone:
		if c.upsert {
			bad("insert.mode", "upsert needs a key: set pk.mode to record_key, record_value or kafka")
		}
		if len(c.pkFields) > 0 {
			bad("pk.fields", "pk.mode=none takes no pk.fields")
		}
	case PKModeKafka:
		if len(c.pkFields) == 0 {
			c.pkFields = DefaultKafkaPKFields
		} else if len(c.pkFields) != 3 {
			bad("pk.fields", "pk.mode=kafka needs three names (topic, partition, offset columns), got %d", len(c.pkFields))
		}
	case PKModeRecordValue:
		if len(c.pkFields) == 0 {
			bad("pk.fields", "pk.mode=record_value needs the names of the value fields that form the key")
		}
	}
	if c.deletes && c.pkMode != PKModeRecordKey {
		bad("delete.enabled", "deletes need pk.mode=record_key (a tombstone has only its key)")
	}
	for _, f := range c.pkFields {
		if err := checkIdentifier("pk.fields column", f); err != nil {
			bad("pk.fields", "%v", err)
		}
	}
	if c.tableFormat == "" {
		c.tableFormat = "${topic}"
	}
	if err := checkIdentifier("schema", c.schema); err != nil {
		bad("table.schema", "%v", err)
	}
	if err := checkIdentifier("table", c.offsetsTable); err != nil {
		bad("offsets.table", "%v", err)
	}
	if len(errs) > 0 {
		return nil, &connectors.ConfigError{Errors: errs}
	}
	return c, nil
}

// connConfig builds the pgx connection config shared by the sink and the
// sources.
func connConfig(cfg connectors.Config, appName string) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(cfg.String("connection.url"))
	if err != nil {
		// pgx's message can echo the password; keep only its kind.
		return nil, fmt.Errorf("not a valid PostgreSQL connection string: %s", redactDSNError(err))
	}
	if u := cfg.String("connection.user"); u != "" {
		cc.User = u
	}
	if p := cfg.String("connection.password"); p != "" {
		cc.Password = p
	}
	if d := cfg.Duration("connection.timeout"); d > 0 {
		cc.ConnectTimeout = d
	} else {
		cc.ConnectTimeout = 10 * time.Second
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = appName
	}
	// Timestamps without an offset mean UTC in Sluice's JSON (see
	// connectors/schema); make the session agree, for input and output.
	if _, ok := cc.RuntimeParams["timezone"]; !ok {
		cc.RuntimeParams["timezone"] = "UTC"
	}
	// Fix the text output formats the sources parse, whatever the server's
	// defaults: hex bytea, ISO dates, shortest exact floats.
	for k, v := range map[string]string{"bytea_output": "hex", "datestyle": "ISO, MDY", "intervalstyle": "postgres", "extra_float_digits": "1"} {
		if _, ok := cc.RuntimeParams[k]; !ok {
			cc.RuntimeParams[k] = v
		}
	}
	return cc, nil
}

func redactDSNError(err error) string {
	s := err.Error()
	if i := strings.Index(s, "cannot parse `"); i >= 0 {
		if j := strings.Index(s[i+14:], "`"); j >= 0 {
			return s[:i+14] + "[hidden]" + s[i+14+j:]
		}
	}
	return s
}

// tableFor returns the target table name of a topic.
func (c *sinkConfig) tableFor(topic string) string {
	return strings.ReplaceAll(c.tableFormat, "${topic}", topic)
}
