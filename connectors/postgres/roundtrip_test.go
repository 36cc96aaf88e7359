package postgres

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
)

// TestTypeRoundTripThroughCDCAndSink copies a table with every commonly used
// type from PostgreSQL to PostgreSQL: the CDC source reads it (snapshot and
// stream) into records with Arrow schemas, the schema goes through its wire
// form as it would in a topic header, and the sink creates and fills a new
// table from them. Column types and every value must survive.
func TestTypeRoundTripThroughCDCAndSink(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`)
	cols := `id int PRIMARY KEY, b bool, i2 smallint, i8 bigint, f4 real, f8 double precision, n numeric(12,3), nu numeric,
		t text, by bytea, d date, tm time, ts timestamp, tz timestamptz, u uuid, jb jsonb, j json,
		ai int[], at text[], an numeric(5,2)[], iv interval, ip inet, m mood`
	pg.Exec(t, `CREATE TABLE src (`+cols+`)`)
	insert := `INSERT INTO src VALUES
	(1, true, -32768, 9223372036854775807, 1.5, 3.141592653589793, -123456789.125, 1e-20, 'tab	"quote" \back ☃', '\x00ff10',
	 '2024-02-29', '13:14:15.123456', '2024-02-29 10:11:12.5', '2024-02-29 23:59:59.999999+05', '123e4567-e89b-12d3-a456-426614174000',
	 '{"a": [1, "x", null], "b": {"c": true}}', '{"z": 1, "a": 2}', '{1,NULL,-3}', '{"a b","c,d","e\"f",NULL,""}', '{1.25,NULL}',
	 '1 year 2 mons 3 days 04:05:06.7', '10.0.0.0/8', 'happy'),
	(2, NULL, NULL, NULL, 'NaN', '-Infinity', NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '{}', '{}', NULL, NULL, NULL, NULL)`
	pg.Exec(t, insert)

	h := newSourceHarness(t, pg, CDCSourceSpec, newCDC, map[string]string{
		"publication.tables": "src", "topic.prefix": "pg", "value.format": "row",
	})
	h.open()
	h.pollUntil(2) // snapshot
	pg.Exec(t, strings.ReplaceAll(strings.ReplaceAll(insert, "(1, true", "(11, true"), "(2, NULL", "(12, NULL"))
	h.pollUntil(4) // stream

	// Through the wire form of the schema, as a topic would carry it.
	var batch []connectors.Record
	for i, r := range h.log {
		wire, err := schema.MarshalSchema(r.Schema)
		if err != nil {
			t.Fatalf("record %d: marshal schema: %v", i, err)
		}
		sc, err := schema.UnmarshalSchema(wire)
		if err != nil {
			t.Fatalf("record %d: unmarshal schema: %v", i, err)
		}
		r.Schema, r.Offset = sc, int64(i)
		batch = append(batch, r)
	}
	s := openSink(t, pg, map[string]string{"table.name.format": "dst", "pk.mode": "record_key", "insert.mode": "upsert", "delete.enabled": "true"})
	mustWrite(t, s, batch)

	typeQ := `SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '%s'::regclass AND attnum > 0 ORDER BY attnum`
	srcTypes, dstTypes := query(t, pg, fmt.Sprintf(typeQ, "src")), query(t, pg, fmt.Sprintf(typeQ, "dst"))
	// json becomes jsonb (Arrow's json type does not tell them apart).
	want := strings.Replace(strings.Join(srcTypes, "\n"), "j|json\n", "j|jsonb\n", 1)
	if got := strings.Join(dstTypes, "\n"); got != want {
		t.Fatalf("destination column types:\n%s\nwant:\n%s", got, want)
	}
	var diffs []string
	for _, name := range strings.Fields("b i2 i8 f4 f8 n nu t by d tm ts tz u jb j ai at an iv ip m") {
		cmp := fmt.Sprintf("s.%s::text IS DISTINCT FROM d.%s::text", name, name)
		if name == "j" {
			cmp = "s.j::jsonb IS DISTINCT FROM d.j"
		}
		for _, r := range query(t, pg, fmt.Sprintf(`SELECT id, s.%s::text, d.%s::text FROM src s FULL JOIN dst d USING (id) WHERE %s`, name, name, cmp)) {
			diffs = append(diffs, name+": "+r)
		}
	}
	if len(diffs) > 0 {
		t.Fatalf("values differ (id|source|destination):\n%s", strings.Join(diffs, "\n"))
	}
	wantRows(t, query(t, pg, `SELECT count(*) FROM dst`), "4")
}
