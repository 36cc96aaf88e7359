package postgres

import (
	"testing"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/sluicehq/sluice/connectors/schema"
)

// TestSinkArrowTypes writes records typed by an Arrow schema into a table the
// sink creates, and checks both the column types and the values PostgreSQL
// holds afterwards.
func TestSinkArrowTypes(t *testing.T) {
	pg := startPG(t)
	dec, _ := schema.Decimal(12, 2)
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int32},
		{Name: "amount", Type: dec, Nullable: true},
		{Name: "at", Type: schema.TimestampUTC, Nullable: true},
		{Name: "local", Type: schema.Timestamp, Nullable: true},
		{Name: "day", Type: schema.Date, Nullable: true},
		{Name: "tod", Type: schema.Time, Nullable: true},
		{Name: "doc", Type: schema.JSON(), Nullable: true},
		{Name: "uid", Type: schema.UUID(), Nullable: true},
		{Name: "ints", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "words", Type: arrow.ListOf(arrow.BinaryTypes.String), Nullable: true},
		{Name: "blob", Type: arrow.BinaryTypes.Binary, Nullable: true},
		{Name: "ratio", Type: arrow.PrimitiveTypes.Float32, Nullable: true},
		{Name: "flag", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
		{Name: "small", Type: arrow.PrimitiveTypes.Int16, Nullable: true},
		{Name: "big", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "addr", Type: arrow.BinaryTypes.String, Nullable: true,
			Metadata: arrow.NewMetadata([]string{PGTypeMetadataKey}, []string{"inet"})},
		{Name: "evil", Type: arrow.BinaryTypes.String, Nullable: true, // not a type name: ignored
			Metadata: arrow.NewMetadata([]string{PGTypeMetadataKey}, []string{"text); DROP TABLE x; --"})},
		{Name: "nested", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64}), Nullable: true},
	}, nil)
	batch := recs("typed", 0,
		"", `{"id":1,"amount":"12345.67","at":"2024-02-29T23:59:59.123456Z","local":"2024-02-29T10:00:00","day":"2024-02-29",`+
			`"tod":"13:14:15.5","doc":{"k":[1,"two",null],"n":{"x":true}},"uid":"123e4567-e89b-12d3-a456-426614174000",`+
			`"ints":[1,-2,9007199254740993],"words":["a b","c,d","e\"f","g\\h",null,"NULL",""],"blob":"AAEC/w==","ratio":0.5,`+
			`"flag":true,"small":-7,"big":18446744073709551615,"addr":"10.1.2.3/32","evil":"x","nested":{"a":1}}`,
		"", `{"id":2,"amount":0.1,"at":1709251199123,"day":19782,"doc":"just a string","ints":[],"words":[null],"ratio":"NaN"}`,
		"", `{"id":3}`,
	)
	for i := range batch {
		batch[i].Schema = sc
	}
	s := openSink(t, pg, map[string]string{"pk.mode": "record_value", "pk.fields": "id", "insert.mode": "upsert"})
	mustWrite(t, s, batch)

	wantRows(t, query(t, pg, `SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c
		JOIN pg_attribute a ON a.attrelid = 'typed'::regclass AND a.attname = c.column_name
		WHERE c.table_name = 'typed' ORDER BY c.ordinal_position`),
		"id|integer", "amount|numeric(12,2)", "at|timestamp with time zone", "local|timestamp without time zone",
		"day|date", "tod|time without time zone", "doc|jsonb", "uid|uuid", "ints|bigint[]", "words|text[]",
		"blob|bytea", "ratio|real", "flag|boolean", "small|smallint", "big|numeric(20,0)", "addr|inet", "evil|text", "nested|jsonb")

	wantRows(t, query(t, pg, `SELECT id, amount::text, at::text, local::text, day::text, tod::text, doc::text, uid::text,
		ints::text, words::text, encode(blob, 'hex'), ratio::text, flag, small, big::text, addr::text, nested::text FROM typed ORDER BY id`),
		`1|12345.67|2024-02-29 23:59:59.123456+00|2024-02-29 10:00:00|2024-02-29|13:14:15.5|{"k": [1, "two", null], "n": {"x": true}}|`+
			`123e4567-e89b-12d3-a456-426614174000|{1,-2,9007199254740993}|{"a b","c,d","e\"f","g\\h",NULL,"NULL",""}|000102ff|0.5|true|-7|18446744073709551615|10.1.2.3/32|{"a": 1}`,
		`2|0.10|2024-02-29 23:59:59.123+00|∅|2024-02-29|∅|"just a string"|∅|{}|{NULL}|∅|NaN|∅|∅|∅|∅|∅`,
		`3|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅|∅`,
	)
}
