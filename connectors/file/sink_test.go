package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

func openSink(t *testing.T, raw map[string]string) *Sink {
	t.Helper()
	cfg, err := SinkSpec.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sink{}
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "t"}, cfg); err != nil {
		t.Fatal(err)
	}
	return s
}

func recs(topic string, from int64, values ...string) []connectors.Record {
	out := make([]connectors.Record, len(values))
	for i, v := range values {
		out[i] = connectors.Record{Topic: topic, Partition: 0, Offset: from + int64(i), Value: []byte(v)}
		if v == "<tomb>" {
			out[i].Value = nil
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSinkCrashCutsUnflushedTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	ctx := context.Background()
	s := openSink(t, map[string]string{"file": path})
	if err := s.Write(ctx, recs("t", 0, `{"a":1}`, "{\n \"a\": 2\n}", "<tomb>")); err != nil {
		t.Fatal(err)
	}
	durable, err := s.Flush(ctx, nil)
	if err != nil || durable[connectors.TopicPartition{Topic: "t"}] != 3 {
		t.Fatalf("flush = %v, %v", durable, err)
	}
	if err := s.Write(ctx, recs("t", 3, `{"a":4}`)); err != nil {
		t.Fatal(err)
	}
	// Crash: no Flush, no Close. The next Open cuts the unacknowledged
	// record, and says where to resume.
	s2 := openSink(t, map[string]string{"file": path})
	if got := readFile(t, path); got != "{\"a\":1}\n{\"a\":2}\n" {
		t.Fatalf("after crash: %q", got)
	}
	stored, _ := s2.StoredOffsets(ctx, []connectors.TopicPartition{{Topic: "t"}, {Topic: "other"}})
	if len(stored) != 1 || stored[connectors.TopicPartition{Topic: "t"}] != 3 {
		t.Fatalf("stored offsets %v", stored)
	}
	s.Close(ctx)
	s2.Close(ctx)
}

func TestSinkRefusesBadValuesAndRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	ctx := context.Background()
	s := openSink(t, map[string]string{"file": path, "rotate.bytes": "20"})
	err := s.Write(ctx, recs("t", 0, `{"a":1}`, `not json`, `{"a":3}`, `{"a":4}`))
	var re *connectors.RecordErrors
	if !errors.As(err, &re) || len(*re) != 1 || (*re)[0].Index != 1 || !strings.Contains((*re)[0].Err.Error(), "not valid JSON") {
		t.Fatalf("Write = %v", err)
	}
	if _, err := s.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	if got := readFile(t, filepath.Join(dir, "out.000000.jsonl")) + readFile(t, path); got != "{\"a\":1}\n{\"a\":3}\n{\"a\":4}\n" {
		t.Fatalf("contents %q", got)
	}
	// A crash between rename and the checkpoint after it: Open completes
	// the rotation instead of failing.
	s = openSink(t, map[string]string{"file": path, "rotate.bytes": "20"})
	s.Write(ctx, recs("t", 4, `{"a":5}`, `{"a":6}`))
	s.Flush(ctx, nil)
	s.f.Sync()
	s.writeCheckpoint()
	s.f.Close()
	os.Rename(path, s.rotatedName(s.seq))
	s2 := openSink(t, map[string]string{"file": path, "rotate.bytes": "20"})
	if s2.seq != s.seq+1 {
		t.Fatalf("seq %d after interrupted rotation from %d", s2.seq, s.seq)
	}
	s2.Close(ctx)
}

func TestSinkCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	ctx := context.Background()
	s := openSink(t, map[string]string{"file": path, "format": "csv", "csv.columns": "id,name,amount"})
	err := s.Write(ctx, recs("t", 0, `{"id":1,"name":"Smith, J","amount":"12.50"}`, `{"id":2,"name":"multi\nline \"q\"","amount":null}`, `[1]`))
	var re *connectors.RecordErrors
	if !errors.As(err, &re) || (*re)[0].Index != 2 {
		t.Fatalf("Write = %v", err)
	}
	s.Flush(ctx, nil)
	s.Close(ctx)
	want := "id,name,amount\n1,\"Smith, J\",12.50\n2,\"multi\nline \"\"q\"\"\",\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestSinkRotatesByTimeWithCSVHeaders(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	ctx := context.Background()
	s := openSink(t, map[string]string{"file": path, "format": "csv", "csv.columns": "a", "rotate.interval": "1ms"})
	if err := s.Write(ctx, recs("t", 0, `{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let the interval pass
	if _, err := s.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, recs("t", 1, `{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	s.Flush(ctx, nil)
	s.Close(ctx)
	if got := readFile(t, filepath.Join(dir, "out.000000.csv")); got != "a\n1\n" {
		t.Fatalf("rotated file %q", got)
	}
	// The second row is in the active file or, if the interval passed
	// again, in the next rotated file: each file with its header.
	rest := readFile(t, path)
	if m, _ := filepath.Glob(filepath.Join(dir, "out.000001.csv")); len(m) == 1 {
		rest = readFile(t, m[0]) + rest
	}
	if rest != "a\n2\n" {
		t.Fatalf("second row: %q", rest)
	}
}
