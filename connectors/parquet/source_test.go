package parquet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	pq "github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors"
)

// payment is written with parquet-go's own struct writer, so the source is
// tested on files it did not produce.
type payment struct {
	ID      int64     `parquet:"id"`
	Account string    `parquet:"account"`
	Cents   int64     `parquet:"cents"`
	Note    *string   `parquet:"note,optional"`
	At      time.Time `parquet:"at,timestamp(millisecond)"`
	Tags    []string  `parquet:"tags,list"`
}

func writePayments(t testing.TB, path string, from, n int) {
	t.Helper()
	rows := make([]payment, n)
	for i := range rows {
		id := from + i
		rows[i] = payment{ID: int64(id), Account: fmt.Sprintf("acct-%d", id%3), Cents: int64(id * 100),
			At: time.UnixMilli(1700000000000 + int64(id)).UTC(), Tags: []string{"t", fmt.Sprint(id % 2)}}
		if id%5 == 0 {
			note := fmt.Sprintf("note \"%d\"\n", id)
			rows[i].Note = &note
		}
	}
	if err := pq.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

func openSource(t testing.TB, raw map[string]string, committed connectors.Positions) *Source {
	t.Helper()
	cfg, err := SourceSpec.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := NewSource()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "src", Logger: logger}, cfg, committed); err != nil {
		t.Fatal(err)
	}
	return s
}

type paymentJSON struct {
	ID      int64    `json:"id"`
	Account string   `json:"account"`
	Cents   int64    `json:"cents"`
	Note    *string  `json:"note"`
	At      string   `json:"at"`
	Tags    []string `json:"tags"`
}

// pollN polls until n records arrived (or fails), checking each row.
func pollN(t *testing.T, s *Source, n int) []connectors.Record {
	t.Helper()
	var out []connectors.Record
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("got %d records; want %d", len(out), n)
		}
		recs, err := s.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			var p paymentJSON
			if err := json.Unmarshal(r.Value, &p); err != nil {
				t.Fatalf("record %s: %v", r.Value, err)
			}
			want := fmt.Sprintf("acct-%d", p.ID%3)
			if p.Account != want || string(r.Key) != want || p.Cents != p.ID*100 || r.Topic != "payments" {
				t.Fatalf("record %s key %q", r.Value, r.Key)
			}
			if wantAt := time.UnixMilli(1700000000000 + p.ID).UTC().Format("2006-01-02T15:04:05.999Z07:00"); p.At != wantAt {
				t.Fatalf("at = %s; want %s", p.At, wantAt)
			}
			if (p.ID%5 == 0) != (p.Note != nil) || len(p.Tags) != 2 || p.Tags[1] != fmt.Sprint(p.ID%2) {
				t.Fatalf("record %s", r.Value)
			}
			if r.Schema == nil || r.Schema.Field(0).Name != "id" || r.Schema.Field(0).Type.ID() != arrow.INT64 {
				t.Fatalf("schema %v", r.Schema)
			}
		}
		out = append(out, recs...)
	}
	return out
}

func ids(t *testing.T, recs []connectors.Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		var p paymentJSON
		_ = json.Unmarshal(r.Value, &p)
		out[i] = p.ID
	}
	return out
}

// TestSourceReadsGlobAndResumes: rows arrive in file then row order; after
// a restart from committed positions the source resumes at the next row,
// skips finished files, and picks up new files on rescan.
func TestSourceReadsGlobAndResumes(t *testing.T) {
	dir := t.TempDir()
	writePayments(t, filepath.Join(dir, "a.parquet"), 0, 250)
	writePayments(t, filepath.Join(dir, "b.parquet"), 250, 100)
	if err := os.WriteFile(filepath.Join(dir, "c.parquet"), []byte("PAR1 this is not parquet PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{KeySourcePath: filepath.Join(dir, "*.parquet"), KeySourceTopic: "payments",
		KeySourceKeyField: "account", KeyBatchSize: "50", KeyRescan: "100ms"}

	s1 := openSource(t, raw, nil)
	first := pollN(t, s1, 150)
	// The worker stored the position of the last delivered record.
	last := first[len(first)-1].Position
	s1.Close(context.Background())
	if last.Partition != "file:"+filepath.Join(dir, "a.parquet") || string(last.Offset) != `{"row":150}` {
		t.Fatalf("position %+v", last)
	}

	s2 := openSource(t, raw, connectors.Positions{last.Partition: last.Offset})
	rest := pollN(t, s2, 200)
	got := append(ids(t, first), ids(t, rest)...)
	for i, id := range got {
		if id != int64(i) {
			t.Fatalf("row %d has id %d; rows must arrive once, in order", i, id)
		}
	}
	// A new file matching the glob is read on rescan; the bad one stays
	// skipped and did not stop the others.
	writePayments(t, filepath.Join(dir, "d.parquet"), 350, 10)
	more := pollN(t, s2, 10)
	if ids(t, more)[0] != 350 {
		t.Fatalf("new file: ids %v", ids(t, more))
	}
	s2.Close(context.Background())

	// Everything committed: a restart reads nothing.
	s3 := openSource(t, raw, connectors.Positions{
		"file:" + filepath.Join(dir, "a.parquet"): []byte(`{"row":250}`),
		"file:" + filepath.Join(dir, "b.parquet"): []byte(`{"row":100}`),
		"file:" + filepath.Join(dir, "d.parquet"): []byte(`{"row":10}`),
	})
	defer s3.Close(context.Background())
	for i := 0; i < 3; i++ {
		recs, err := s3.Poll(context.Background())
		if err != nil || len(recs) != 0 {
			t.Fatalf("after full commit: %d records, %v", len(recs), err)
		}
	}
}

// TestSinkOutputReadBySource: the sink's files read back through the
// source give the rows that went in (all types round trip through JSON).
func TestSinkOutputReadBySource(t *testing.T) {
	dir := t.TempDir()
	sink := openSink(t, map[string]string{KeyPath: dir, KeyPartitionBy: "none", KeyFlushSize: "2"})
	tp := connectors.TopicPartition{Topic: "t", Partition: 0}
	b := simpleBatch(t, tp, 0, 3, time.Unix(0, 0))
	if err := sink.WriteColumns(context.Background(), []connectors.ColumnBatch{b}); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, map[string]string{KeySourcePath: filepath.Join(dir, "t", "*.parquet"), KeySourceTopic: "copy"}, nil)
	defer src.Close(context.Background())
	recs, err := src.Poll(context.Background())
	if err != nil || len(recs) != 2 {
		t.Fatalf("poll: %d records, %v", len(recs), err)
	}
	if string(recs[0].Value) != `{"id":0,"device":"dev-0","temp":0.5}` || string(recs[1].Value) != `{"id":1,"device":"dev-1","temp":1.5}` {
		t.Fatalf("rows %s %s", recs[0].Value, recs[1].Value)
	}
	if !recs[0].Schema.Equal(simpleSchema) {
		t.Fatalf("schema %v; want %v", recs[0].Schema, simpleSchema)
	}
}

// TestSourceDecodesMapsAndNesting reads maps, nested lists and optional
// structs written by parquet-go's struct writer.
func TestSourceDecodesMapsAndNesting(t *testing.T) {
	type inner struct {
		A *int64 `parquet:"a,optional"`
	}
	type row struct {
		Attrs  map[string]int32 `parquet:"attrs"`
		Matrix [][]int64        `parquet:"matrix,list"`
		In     *inner           `parquet:"in,optional"`
	}
	one := int64(1)
	path := filepath.Join(t.TempDir(), "m.parquet")
	if err := pq.WriteFile(path, []row{
		{Attrs: map[string]int32{"x": 1}, Matrix: [][]int64{{1, 2}, {}, {3}}, In: &inner{A: &one}},
		{Attrs: map[string]int32{}, Matrix: nil, In: &inner{}},
		{In: nil},
	}); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, map[string]string{KeySourcePath: path, KeySourceTopic: "t"}, nil)
	defer src.Close(context.Background())
	recs, err := src.Poll(context.Background())
	if err != nil || len(recs) != 3 {
		t.Fatalf("poll: %d, %v", len(recs), err)
	}
	want := []string{
		`{"attrs":{"x":1},"matrix":[[1,2],[],[3]],"in":{"a":1}}`,
		`{"attrs":{},"matrix":[],"in":{"a":null}}`,
		`{"attrs":{},"matrix":[],"in":null}`,
	}
	for i, r := range recs {
		if string(r.Value) != want[i] {
			t.Errorf("row %d: %s; want %s", i, r.Value, want[i])
		}
		if !json.Valid(r.Value) {
			t.Errorf("row %d is not JSON", i)
		}
	}
}

// TestSourceTimestampField: timestamp.field sets the record timestamp from
// a column; a column of the wrong type makes the file unreadable (skipped).
func TestSourceTimestampField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.parquet")
	writePayments(t, path, 0, 5)
	src := openSource(t, map[string]string{KeySourcePath: path, KeySourceTopic: "t", KeySourceTSField: "at"}, nil)
	defer src.Close(context.Background())
	recs, err := src.Poll(context.Background())
	if err != nil || len(recs) != 5 {
		t.Fatalf("poll: %d, %v", len(recs), err)
	}
	for i, r := range recs {
		if want := time.UnixMilli(1700000000000 + int64(i)); !r.Timestamp.Equal(want) {
			t.Errorf("row %d timestamp %v; want %v", i, r.Timestamp, want)
		}
	}
	bad := openSource(t, map[string]string{KeySourcePath: path, KeySourceTopic: "t", KeySourceTSField: "account"}, nil)
	defer bad.Close(context.Background())
	if _, err := bad.openFile(path); err == nil || !strings.Contains(err.Error(), `"account"`) {
		t.Fatalf("string timestamp field: %v", err)
	}
}
