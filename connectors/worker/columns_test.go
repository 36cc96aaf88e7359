package worker_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/schema"
	"github.com/sluicehq/sluice/connectors/worker"
)

// columnSink is a test plugin that implements ColumnSink the way a third
// party would, remembering what it was given.
type columnSink struct{}

var captured struct {
	sync.Mutex
	schemas []string
	rows    []string
	tombs   int
}

func (columnSink) Open(context.Context, connectors.TaskInfo, connectors.Config) error { return nil }
func (columnSink) Write(_ context.Context, batch []connectors.Record) error {
	captured.Lock()
	defer captured.Unlock()
	for _, r := range batch {
		if r.Value == nil {
			captured.tombs++
		}
	}
	return nil
}
func (columnSink) WriteColumns(_ context.Context, batches []connectors.ColumnBatch) error {
	captured.Lock()
	defer captured.Unlock()
	for _, b := range batches {
		s, err := schema.MarshalSchema(b.Columns.Schema())
		if err != nil {
			return err
		}
		captured.schemas = append(captured.schemas, string(s))
		rows, err := schema.RecordJSON(b.Columns)
		if err != nil {
			return err
		}
		if len(rows) != len(b.Records) {
			panic("rows and records out of step")
		}
		for _, r := range rows {
			captured.rows = append(captured.rows, string(r))
		}
	}
	return nil
}
func (columnSink) Flush(_ context.Context, w connectors.Offsets) (connectors.Offsets, error) {
	return w, nil
}
func (columnSink) Close(context.Context) error { return nil }

func init() {
	connectors.Register(connectors.Plugin{Name: "test-columns", Kind: connectors.KindSink,
		NewSink: func() connectors.Sink { return columnSink{} }})
}

// TestSchemaTravelsToColumnSink: a CSV source with a declared schema
// produces records whose Arrow schema travels in a header; a column sink
// receives Arrow batches of exactly that schema with typed values.
// Schemaless JSON gets an inferred schema, and a value that does not decode
// is dead-lettered rather than failing the batch.
func TestSchemaTravelsToColumnSink(t *testing.T) {
	b := startBroker(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("id,amount,at\n1,12.50,2024-05-01T10:00:00Z\n2,,2024-05-01T10:00:01.5Z\n"), 0o644)
	w := startWorker(t, b.Addr)
	w.create("csv", map[string]string{"connector.class": "file-source", "file": in, "format": "csv", "topic": "typed",
		"csv.schema": "id int64, amount decimal128(10,2), at timestamp[us, UTC]"})
	w.create("cols", map[string]string{"connector.class": "test-columns", "topics": "typed,loose",
		"errors.tolerance": "all", "errors.deadletterqueue.topic.name": "cols-dlq"})
	waitFor(t, "typed rows", func() bool {
		captured.Lock()
		defer captured.Unlock()
		return len(captured.rows) >= 2
	})
	captured.Lock()
	if got := strings.Join(captured.rows, "\n"); got != `{"id":1,"amount":"12.50","at":"2024-05-01T10:00:00Z"}`+"\n"+
		`{"id":2,"amount":null,"at":"2024-05-01T10:00:01.5Z"}` {
		t.Fatalf("rows:\n%s", got)
	}
	if captured.schemas[0] != `{"fields":[{"name":"id","type":"int64","nullable":true},{"name":"amount","type":"decimal128(10,2)","nullable":true},{"name":"at","type":"timestamp[us, UTC]","nullable":true}]}` {
		t.Fatalf("schema %s", captured.schemas[0])
	}
	captured.rows, captured.schemas = nil, nil
	captured.Unlock()

	cl := client(t, b.Addr)
	produce(t, cl, "loose", `{"n":1,"tags":["a"]}`, `[not an object]`, `<tomb>`, `{"n":2.5}`)
	waitFor(t, "loose rows", func() bool {
		captured.Lock()
		defer captured.Unlock()
		return len(captured.rows) >= 2 && captured.tombs == 1
	})
	captured.Lock()
	got := strings.Join(captured.rows, " ")
	captured.Unlock()
	if got != `{"n":1,"tags":["a"]} {"n":2.5,"tags":null}` { // the second batch keeps (and widens) the partition's schema
		t.Fatalf("inferred rows: %s", got)
	}
	dl := consumeN(t, b.Addr, "cols-dlq", 1)[0]
	if string(dl.Value) != "[not an object]" || !strings.Contains(header(dl, worker.HeaderErrExcMessage), "not a JSON object") {
		t.Fatalf("dead letter %q %q", dl.Value, header(dl, worker.HeaderErrExcMessage))
	}
}
