package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func TestSinkInsertSchemaless(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, nil)
	inserted := sinkRows.WithLabelValues("pg-sink-test", "readings", "insert")
	before := counterValue(t, inserted)
	mustWrite(t, s, recs("readings", 0,
		"", `{"sensor":"s-1","temp":21.5,"ok":true,"n":3,"tags":["a","b"],"meta":{"fw":"1.2"}}`,
		"", `{"sensor":"s-2","temp":19,"ok":false,"n":-4,"tags":[],"meta":null}`,
		"", `{"sensor":"tab\there","temp":null,"big":18446744073709551615,"note":"line\nbreak \\ slash"}`,
	))
	wantRows(t, query(t, pg, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_name = 'readings' ORDER BY column_name`),
		"big|numeric", "meta|jsonb", "n|bigint", "note|text", "ok|boolean", "sensor|text", "tags|ARRAY", "temp|double precision")
	wantRows(t, query(t, pg, `SELECT sensor, temp, ok, n, array_to_string(tags, ','), meta::text, big::text, note FROM readings ORDER BY sensor`),
		"s-1|21.5|true|3|a,b|{\"fw\": \"1.2\"}|∅|∅",
		"s-2|19|false|-4||∅|∅|∅",
		"tab\there|∅|∅|∅|∅|∅|18446744073709551615|line\nbreak \\ slash",
	)
	if got := counterValue(t, inserted) - before; got != 3 {
		t.Fatalf("rows_total grew by %v, want 3", got)
	}
	// Plain insert mode appends: the same records again are new rows.
	mustWrite(t, s, recs("readings", 3, "", `{"sensor":"s-1","temp":22}`))
	wantRows(t, query(t, pg, `SELECT count(*) FROM readings WHERE sensor = 's-1'`), "2")
}

func TestSinkUpsertAndDelete(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, map[string]string{
		"insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true", "table.name.format": "acct_${topic}",
	})
	mustWrite(t, s, recs("balances", 0,
		`{"id":1}`, `{"owner":"ann","balance":10}`,
		`{"id":2}`, `{"owner":"bob","balance":20}`,
		`{"id":1}`, `{"owner":"ann","balance":11}`, // same key twice in one batch: last wins
		`{"id":3}`, `{"owner":"cat","balance":30}`,
		`{"id":3}`, ``, // deleted in the same batch
		`{"id":4}`, ``, // tombstone for a row that never existed
	))
	wantRows(t, query(t, pg, `SELECT id, owner, balance FROM acct_balances ORDER BY id`), "1|ann|11", "2|bob|20")
	// The key became the primary key.
	wantRows(t, query(t, pg, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
		WHERE i.indrelid = 'acct_balances'::regclass AND i.indisprimary`), "id")

	mustWrite(t, s, recs("balances", 6,
		`{"id":2}`, ``,
		`{"id":1}`, `{"owner":"ann","balance":12}`,
		`{"id":5}`, `{"owner":"dan","balance":50}`,
		`{"id":5}`, ``,
		`{"id":5}`, `{"owner":"dan","balance":51}`, // deleted then recreated
	))
	wantRows(t, query(t, pg, `SELECT id, owner, balance FROM acct_balances ORDER BY id`), "1|ann|12", "5|dan|51")

	// Redelivery of an old batch is idempotent in upsert mode.
	mustWrite(t, s, recs("balances", 7, `{"id":1}`, `{"owner":"ann","balance":12}`))
	wantRows(t, query(t, pg, `SELECT count(*) FROM acct_balances`), "2")
}

func TestSinkScalarKeyAndValueKey(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, map[string]string{"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "device"})
	mustWrite(t, s, recs("devices", 0,
		`dev-1`, `{"fw":"1.0"}`, // a key that is not JSON is text
		`"dev-2"`, `{"fw":"1.1"}`,
		`dev-1`, `{"fw":"1.2"}`,
	))
	wantRows(t, query(t, pg, `SELECT device, fw FROM devices ORDER BY device`), "dev-1|1.2", "dev-2|1.1")

	s2 := openSink(t, pg, map[string]string{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "site,meter"})
	err := write(t, s2, recs("meters", 0,
		"", `{"site":"a","meter":1,"kwh":5}`,
		"", `{"site":"a","meter":2,"kwh":6}`,
		"", `{"site":"a","meter":1,"kwh":7}`,
		"", `{"site":"b","kwh":8}`, // no meter: refused
	))
	if got := refusedIndexes(t, err); fmt.Sprint(got) != "[3]" || !errors.Is(err, ErrBadKey) {
		t.Fatalf("refused %v (%v), want [3] with ErrBadKey", got, err)
	}
	wantRows(t, query(t, pg, `SELECT site, meter, kwh FROM meters ORDER BY site, meter`), "a|1|7", "a|2|6")
}

func TestSinkInsertIfAbsentWithKafkaKey(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, map[string]string{"pk.mode": "kafka"})
	batch := recs("events", 100, "", `{"e":"a"}`, "", `{"e":"b"}`)
	mustWrite(t, s, batch)
	mustWrite(t, s, batch) // redelivered: the kafka coordinates are the key, nothing doubles
	wantRows(t, query(t, pg, `SELECT __connect_topic, __connect_partition, __connect_offset, e FROM events ORDER BY 3`),
		"events|0|100|a", "events|0|101|b")
}

func TestSinkSchemaEvolution(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, map[string]string{"pk.mode": "record_key", "insert.mode": "upsert"})
	mustWrite(t, s, recs("users", 0, `{"id":1}`, `{"name":"ann"}`))
	mustWrite(t, s, recs("users", 1,
		`{"id":2}`, `{"name":"bob","email":"bob@example.com","age":null}`,
		`{"id":1}`, `{"name":"ann","score":[1.5,2]}`,
	))
	wantRows(t, query(t, pg, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_name = 'users' ORDER BY ordinal_position`),
		"id|bigint", "name|text", "email|text", "score|ARRAY")
	wantRows(t, query(t, pg, `SELECT id, name, email, score::text FROM users ORDER BY id`),
		"1|ann|∅|{1.5,2}", "2|bob|bob@example.com|∅")

	// A later non-null value of a field that was only ever null adds it.
	mustWrite(t, s, recs("users", 3, `{"id":2}`, `{"name":"bob","age":40}`))
	wantRows(t, query(t, pg, `SELECT id, age FROM users ORDER BY id`), "1|∅", "2|40")

	// Pre-created table, user's own column case: "userName" finds username.
	pg.Exec(t, `CREATE TABLE people (id bigint PRIMARY KEY, username text NOT NULL)`)
	strict := openSink(t, pg, map[string]string{"pk.mode": "record_key", "insert.mode": "upsert", "auto.evolve": "false"})
	err := write(t, strict, recs("people", 0,
		`{"id":1}`, `{"userName":"ann"}`,
		`{"id":2}`, `{"userName":"bob","extra":1}`, // no such column and evolution off: refused
		`{"id":3}`, `{"userName":null}`, // NOT NULL violated: refused
	))
	if got := refusedIndexes(t, err); fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("refused %v, want [1 2]: %v", got, err)
	}
	if !errors.Is(err, ErrColumnMissing) {
		t.Fatalf("error %v does not wrap ErrColumnMissing", err)
	}
	wantRows(t, query(t, pg, `SELECT id, username FROM people`), "1|ann")
}

func TestSinkRefusesBadRecordsKeepsTheRest(t *testing.T) {
	pg := startPG(t)
	pg.Exec(t, `CREATE TABLE typed (id int PRIMARY KEY, qty int CHECK (qty >= 0), at timestamptz, doc bytea, tags int[])`)
	for _, mode := range []string{"insert", "upsert"} {
		// Binary COPY when every column has a binary encoder; an int[]
		// column in the batch sends it as text, where PostgreSQL parses.
		for _, format := range []string{"binary", "text"} {
			t.Run(mode+"/"+format, func(t *testing.T) {
				pg.Exec(t, `TRUNCATE typed`)
				s := openSink(t, pg, map[string]string{"pk.mode": "record_value", "pk.fields": "id", "insert.mode": mode, "table.name.format": "typed"})
				batch := recs("t", 0,
					"", `{"id":1,"qty":5,"at":"2024-05-01T10:00:00Z","doc":"aGk="}`,
					"", `{"id":2,"qty":"many"}`, // not an integer
					"", `not json`,
					"", `{"id":3,"qty":-1}`, // check constraint
					"", `[1,2]`, // not an object
					"", `{"id":4,"doc":"%%%"}`, // not base64
					"", `{"id":5,"at":1714557600000}`, // epoch millis
					"", `{"id":6,"at":"yesterday-ish"}`,
				)
				want := []string{"typed_qty_check", "base64", "a JSON object is needed", "invalid JSON", "qty"}
				if format == "text" {
					batch = append(batch, recs("t", 8, "", `{"id":9,"tags":[1,2]}`)...)
					want = append(want, "invalid input syntax for type integer", "invalid input syntax for type timestamp")
				} else {
					want = append(want, `expected a 32-bit integer, got "many"`, "expected an RFC 3339 timestamp")
				}
				err := write(t, s, batch)
				if got := refusedIndexes(t, err); fmt.Sprint(got) != "[1 2 3 4 5 7]" {
					t.Fatalf("refused %v, want [1 2 3 4 5 7]: %v", got, err)
				}
				msgs := fmt.Sprint(*err.(*connectors.RecordErrors))
				for _, w := range want {
					if !strings.Contains(msgs, w) {
						t.Errorf("errors do not mention %q: %s", w, msgs)
					}
				}
				if strings.Contains(msgs, "bad record value: bad record value") {
					t.Errorf("doubled prefix: %s", msgs)
				}
				wantN := []string{"1|5|2024-05-01 10:00:00 +0000 UTC|hi", "5|∅|2024-05-01 10:00:00 +0000 UTC|∅"}
				if format == "text" {
					wantN = append(wantN, "9|∅|∅|∅")
				}
				wantRows(t, query(t, pg, `SELECT id, qty, at AT TIME ZONE 'UTC', encode(doc, 'escape') FROM typed ORDER BY id`), wantN...)
			})
		}
	}
}

func TestSinkExactlyOnce(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, map[string]string{"exactly.once": "true"})
	ctx := context.Background()
	tps := []connectors.TopicPartition{{Topic: "pay", Partition: 0}, {Topic: "pay", Partition: 1}}
	got, err := s.StoredOffsets(ctx, tps)
	if err != nil || len(got) != 0 {
		t.Fatalf("StoredOffsets before any write = %v, %v; want none", got, err)
	}
	b1 := recs("pay", 0, "", `{"id":"p0"}`, "", `{"id":"p1"}`, "", `{"id":"p2"}`)
	mustWrite(t, s, b1)
	// The worker redelivers an overlapping batch (say, after a crash before
	// it committed the group offset): only the new records apply.
	b2 := recs("pay", 1, "", `{"id":"p1"}`, "", `{"id":"p2"}`, "", `{"id":"p3"}`)
	p1 := recs("pay", 0, "", `{"id":"q0"}`)
	p1[0].Partition = 1
	mustWrite(t, s, append(b2, p1...))
	wantRows(t, query(t, pg, `SELECT id, count(*) FROM pay GROUP BY id ORDER BY id`), "p0|1", "p1|1", "p2|1", "p3|1", "q0|1")

	got, err = s.StoredOffsets(ctx, tps)
	if err != nil {
		t.Fatal(err)
	}
	if got[tps[0]] != 4 || got[tps[1]] != 1 {
		t.Fatalf("StoredOffsets = %v, want pay-0:4 pay-1:1", got)
	}
	// A new task (restart) sees the same offsets.
	s2 := openSink(t, pg, map[string]string{"exactly.once": "true"})
	if got2, err := s2.StoredOffsets(ctx, tps); err != nil || fmt.Sprint(got2) != fmt.Sprint(got) {
		t.Fatalf("after restart StoredOffsets = %v, %v; want %v", got2, err, got)
	}
	mustWrite(t, s2, b1) // entirely old: nothing changes
	wantRows(t, query(t, pg, `SELECT count(*) FROM pay`), "5")
}

func TestSinkConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg   map[string]string
		field string
	}{
		{map[string]string{"insert.mode": "upsert"}, "insert.mode"},
		{map[string]string{"pk.mode": "record_value"}, "pk.fields"},
		{map[string]string{"delete.enabled": "true", "pk.mode": "kafka"}, "delete.enabled"},
		{map[string]string{"pk.mode": "kafka", "pk.fields": "a,b"}, "pk.fields"},
		{map[string]string{"connection.url": "postgres://x:secret@h:notaport/db"}, "connection.url"},
	} {
		raw := map[string]string{"connection.url": "postgres://127.0.0.1/db"}
		for k, v := range tc.cfg {
			raw[k] = v
		}
		c, err := SinkSpec.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		err = NewSink().Open(context.Background(), testTask("x"), c)
		var ce *connectors.ConfigError
		if !errors.As(err, &ce) || len(ce.Errors) == 0 || ce.Errors[0].Field != tc.field {
			t.Errorf("config %v: error %v, want a ConfigError on %s", tc.cfg, err, tc.field)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestSinkDatabaseDownAtOpenIsRetriable(t *testing.T) {
	pg := startPG(t)
	pg.Stop()
	c, _ := SinkSpec.Parse(map[string]string{"connection.url": pg.DSN(), "connection.timeout": "2s"})
	s := NewSink()
	err := s.Open(context.Background(), testTask("x"), c)
	if !connectors.IsRetriable(err) {
		t.Fatalf("Open with the database down: %v, want a retriable error", err)
	}
	pg.Start()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Write(ctx, recs("x", 0, "", `{"a":1}`)); err != nil {
		t.Fatalf("write after the database came back: %v", err)
	}
	s.Close(ctx)
}

// TestSinkStreamingInsert covers large plain-insert batches, which are
// parsed while COPY streams: bad records, tombstones and a field that only
// appears late in the batch (the table evolves inside the transaction), and
// a value the database rejects (the batch is redone the ordinary way).
func TestSinkStreamingInsert(t *testing.T) {
	pg := startPG(t)
	s := openSink(t, pg, nil)
	const n = 3000
	build := func(topic string, bad map[int]string) []connectors.Record {
		batch := make([]connectors.Record, n)
		for i := range batch {
			v := fmt.Sprintf(`{"n":%d,"s":"v%d"}`, i, i)
			if i == 2500 {
				v = fmt.Sprintf(`{"n":%d,"s":"v%d","late":true}`, i, i)
			}
			if b, ok := bad[i]; ok {
				v = b
			}
			batch[i] = connectors.Record{Topic: topic, Offset: int64(i), Value: []byte(v)}
			if v == "" {
				batch[i].Value = nil
			}
		}
		return batch
	}
	err := write(t, s, build("big", map[int]string{10: `{"n":`, 1500: `[1]`, 2000: ``}))
	if got := refusedIndexes(t, err); fmt.Sprint(got) != "[10 1500]" {
		t.Fatalf("refused %v: %v", got, err)
	}
	wantRows(t, query(t, pg, `SELECT count(*), count(DISTINCT n), sum(n)::bigint, count(late) FROM big`),
		fmt.Sprintf("%d|%d|%d|1", n-3, n-3, n*(n-1)/2-10-1500-2000))

	// A value the column refuses, far into the batch.
	err = write(t, s, build("big", map[int]string{2900: `{"n":"x"}`}))
	if got := refusedIndexes(t, err); fmt.Sprint(got) != "[2900]" {
		t.Fatalf("refused %v: %v", got, err)
	}
	wantRows(t, query(t, pg, `SELECT count(*) FROM big`), fmt.Sprint(2*n-4))
}
