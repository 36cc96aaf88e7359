package file

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// harness drives a Source the way the worker does: it keeps the latest
// position per partition and hands them to a new Source on "restart".
type harness struct {
	t         *testing.T
	raw       map[string]string
	src       *Source
	positions connectors.Positions
}

func newHarness(t *testing.T, raw map[string]string) *harness {
	h := &harness{t: t, raw: raw, positions: connectors.Positions{}}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	if raw, ok := h.raw["poll.interval"]; !ok || raw == "" {
		h.raw["poll.interval"] = "1ms"
	}
	cfg, err := SourceSpec.Parse(h.raw)
	if err != nil {
		h.t.Fatal(err)
	}
	h.src = &Source{}
	if err := h.src.Open(context.Background(), connectors.TaskInfo{Connector: "t"}, cfg, h.positions); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) restart() {
	h.src.Close(context.Background())
	h.open()
}

// poll polls until a poll returns nothing, and returns the values read.
func (h *harness) poll() []string {
	h.t.Helper()
	var out []string
	empty := 0
	for empty < 3 {
		recs, err := h.src.Poll(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		if len(recs) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, r := range recs {
			out = append(out, string(r.Value))
			if !r.Position.IsZero() {
				h.positions[r.Position.Partition] = r.Position.Offset
			}
		}
	}
	return out
}

func (h *harness) pollErr() error {
	for i := 0; i < 5; i++ {
		if _, err := h.src.Poll(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

func write(t *testing.T, path, s string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func appendTo(t *testing.T, path, s string) { write(t, path, s, os.O_APPEND) }

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestSourceJSONLinesResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.jsonl")
	write(t, path, "{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}", os.O_TRUNC)
	h := newHarness(t, map[string]string{"file": path})
	eq(t, h.poll(), `{"a":1}`, `{"a":2}`, `{"a":3}`) // not tailing: the unterminated last line counts
	h.restart()
	eq(t, h.poll()) // nothing again
	var p filePos
	if err := json.Unmarshal(h.positions[path], &p); err != nil || p.Offset != int64(len("{\"a\":1}\n\n{\"a\":2}\r\n{\"a\":3}")) {
		t.Fatalf("position %s (%v)", h.positions[path], err)
	}
}

func TestSourceTailGrowTruncateRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	write(t, path, "{\"n\":1}\n{\"n\":2", os.O_TRUNC)
	h := newHarness(t, map[string]string{"file": path, "tail": "true"})
	eq(t, h.poll(), `{"n":1}`) // the half-written line waits
	appendTo(t, path, "}\n{\"n\":3}\n")
	eq(t, h.poll(), `{"n":2}`, `{"n":3}`)

	// Restart mid-file: resumes after n=3.
	appendTo(t, path, "{\"n\":4}\n")
	h.restart()
	eq(t, h.poll(), `{"n":4}`)

	// Truncation (copytruncate rotation): read again from the start.
	write(t, path, "{\"n\":5}\n", os.O_TRUNC)
	eq(t, h.poll(), `{"n":5}`)

	// Rotation by rename: the old file's tail is drained, then the new file.
	appendTo(t, path, "{\"n\":6}\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".1", "{\"n\":7}\n") // the writer still had it open
	write(t, path, "{\"n\":8}\n", os.O_TRUNC)
	eq(t, h.poll(), `{"n":6}`, `{"n":7}`, `{"n":8}`)

	// Rotation while the connector is down: found by inode and drained.
	appendTo(t, path, "{\"n\":9}\n")
	h.src.Close(context.Background())
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	write(t, path, "{\"n\":10}\n", os.O_TRUNC)
	h.open()
	eq(t, h.poll(), `{"n":9}`, `{"n":10}`)
}

func TestSourceGlobDoesNotRereadRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.jsonl"), "1\n2\n", os.O_TRUNC)
	write(t, filepath.Join(dir, "b.jsonl"), "3\n", os.O_TRUNC)
	h := newHarness(t, map[string]string{"file": filepath.Join(dir, "*.jsonl*"), "tail": "true"})
	eq(t, h.poll(), "1", "2", "3")
	// A renamed file is the same file: not read again.
	if err := os.Rename(filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "a.jsonl.old")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "c.jsonl"), "4\n", os.O_TRUNC)
	eq(t, h.poll(), "4")
	h.restart()
	appendTo(t, filepath.Join(dir, "b.jsonl"), "5\n")
	eq(t, h.poll(), "5")
}

func TestSourceCSV(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.csv")
	write(t, path, "id,name,amount\n1,\"Smith, J\",12.50\n2,\"multi\nline \"\"quoted\"\"\",\n3,x,7\n", os.O_TRUNC)
	h := newHarness(t, map[string]string{"file": path, "format": "csv", "key.field": "id",
		"csv.schema": "id int64, name string, amount decimal128(10,2)"})
	eq(t, h.poll(),
		`{"id":1,"name":"Smith, J","amount":"12.50"}`,
		`{"id":2,"name":"multi\nline \"quoted\"","amount":null}`,
		`{"id":3,"name":"x","amount":"7"}`)

	// Resume mid-file keeps the header from the position.
	appendTo(t, path, "4,y,1\n")
	h.restart()
	eq(t, h.poll(), `{"id":4,"name":"y","amount":"1"}`)

	// A row that does not fit the schema fails with its location.
	appendTo(t, path, "five,z,1\n")
	h.restart()
	err := h.pollErr()
	if err == nil || !strings.Contains(err.Error(), "in.csv record 6 (byte") || !strings.Contains(err.Error(), `field "id"`) {
		t.Fatalf("error = %v", err)
	}
	// With invalid.records=skip the row is skipped and the rest read.
	appendTo(t, path, "6,w,2\n")
	h.raw["invalid.records"] = "skip"
	h.restart()
	eq(t, h.poll(), `{"id":6,"name":"w","amount":"2"}`)
}

func TestSourceInvalidJSONFailsWithLocation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.jsonl")
	write(t, path, "{\"ok\":1}\n{\"broken\":\n{\"ok\":2}\n", os.O_TRUNC)
	h := newHarness(t, map[string]string{"file": path})
	err := h.pollErr()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("file %s record 2 (byte 9): invalid JSON", path)) {
		t.Fatalf("error = %v", err)
	}
	write(t, path, strings.Repeat("x", 100)+"\n3\n", os.O_TRUNC)
	h.raw["max.record.bytes"] = "10"
	h.raw["invalid.records"] = "skip"
	h.positions = connectors.Positions{}
	h.restart()
	eq(t, h.poll(), "3")
}
