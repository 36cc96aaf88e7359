package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// connectProc is a real `sluice connect` process, killable with SIGKILL.
type connectProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	url  string
	done chan struct{}
	out  *brokertest.SyncBuffer
}

func startConnect(t *testing.T, brokerAddr, rest string) *connectProc {
	t.Helper()
	p := &connectProc{t: t, url: "http://" + rest, done: make(chan struct{}), out: &brokertest.SyncBuffer{}}
	p.cmd = exec.Command(brokertest.Binary(t), "connect", "--brokers", brokerAddr, "--rest-listen", rest, "--log-level", "warn")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waitFor(t, ctx, func() bool {
		select {
		case <-p.done:
			t.Fatalf("sluice connect exited:\n%s", p.out.String())
		default:
		}
		resp, err := http.Get(p.url + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return p
}

func (p *connectProc) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *connectProc) call(method, path string, body any) (int, string) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func kafkaClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produceRange(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var recs []*kgo.Record
	for n := from; n < to; n++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(n)),
			Value: fmt.Appendf(nil, `{"id":%d,"amount":"%d.%02d","at":"2024-01-01T00:00:00Z"}`, n, n, n%100)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func countRows(t *testing.T, pg interface{ DSN() string }, sql string) (int, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := connectPG(ctx, pg.DSN())
	if err != nil {
		return -1, -1
	}
	defer conn.Close(context.Background())
	var n, d int
	if err := conn.QueryRow(ctx, sql).Scan(&n, &d); err != nil {
		return -1, -1
	}
	return n, d
}

// TestEndToEndExactlyOnceSinkSurvivesKillsAndOutage runs the sink in a real
// `sluice connect` process against a real `sluice serve`, in exactly-once
// mode without any key: while it copies a topic into a table, the worker is
// killed with SIGKILL and restarted, and PostgreSQL is stopped and started
// again. Every record must end in the table exactly once, with no manual
// action.
func TestEndToEndExactlyOnceSinkSurvivesKillsAndOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve, sluice connect and PostgreSQL")
	}
	pg := startPG(t)
	broker := brokertest.Start(t)
	cl := kafkaClient(t, broker.Addr)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, -1, nil, "payments"); err != nil {
		t.Fatal(err)
	}
	const total = 3000
	produceRange(t, cl, "payments", 0, total/2)

	rest := brokertest.FreePort(t)
	proc := startConnect(t, broker.Addr, rest)
	tctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	waitFor(t, tctx, func() bool { code, _ := proc.call("GET", "/connectors", nil); return code == http.StatusOK })
	code, body := proc.call("POST", "/connectors", map[string]any{"name": "pay-sink", "config": map[string]string{
		"connector.class": SinkPluginName, "topics": "payments", "connection.url": pg.DSN(),
		"exactly.once": "true", "consumer.override.max.poll.records": "100", "errors.retry.delay.max.ms": "500",
	}})
	if code != http.StatusCreated {
		t.Fatalf("create connector: %d %s", code, body)
	}
	rowsAtLeast := func(n int) func() bool {
		return func() bool {
			c, _ := countRows(t, pg, `SELECT count(*), count(DISTINCT id) FROM payments`)
			return c >= n
		}
	}

	// Kill the worker mid-stream and start a new one.
	waitFor(t, tctx, rowsAtLeast(200))
	proc.kill()
	proc = startConnect(t, broker.Addr, rest)

	// Take the database away while records keep arriving.
	waitFor(t, tctx, rowsAtLeast(total/4))
	pg.Stop()
	produceRange(t, cl, "payments", total/2, total)
	time.Sleep(time.Second) // the sink retries against a dead database meanwhile
	pg.Start()

	// And kill the worker once more, with the table still filling.
	waitFor(t, tctx, rowsAtLeast(total/2+total/4))
	proc.kill()
	startConnect(t, broker.Addr, rest)

	waitFor(t, tctx, rowsAtLeast(total))
	time.Sleep(500 * time.Millisecond) // give a duplicate, if any, time to land
	n, distinct := countRows(t, pg, `SELECT count(*), count(DISTINCT id) FROM payments`)
	if n != total || distinct != total {
		t.Fatalf("table has %d rows, %d distinct ids; want exactly %d", n, distinct, total)
	}
	wantRows(t, query(t, pg, `SELECT sum(next_offset)::bigint FROM sluice_sink_offsets WHERE connector = 'pay-sink'`), strconv.Itoa(total))
	wantRows(t, query(t, pg, `SELECT count(*) FROM payments WHERE amount::text <> id || '.' || lpad((id % 100)::text, 2, '0')`), "0")
}

// TestEndToEndCDCToSinkMirror runs a CDC source and a sink in one worker
// against a real `sluice serve`: changes to a PostgreSQL table flow through
// a topic (with the Arrow schema in a header) into a mirror table, deletes
// included.
func TestEndToEndCDCToSinkMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts sluice serve and PostgreSQL")
	}
	pg := startPG(t)
	broker := brokertest.Start(t)
	pg.Exec(t, `CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric(10,2), items text[], placed timestamptz)`)
	pg.Exec(t, `INSERT INTO orders SELECT g, 'c' || g % 7, g * 1.25, ARRAY['sku-' || g], '2024-01-01T00:00:00Z'::timestamptz + g * interval '1 hour' FROM generate_series(1, 50) g`)

	w, err := worker.New(worker.Config{
		Brokers: []string{broker.Addr}, WorkerID: "pg-e2e", OffsetFlushInterval: 200 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer tcancel()
	waitFor(t, tctx, w.Ready)
	if _, err := w.Create(tctx, "orders-cdc", map[string]string{
		"connector.class": CDCSourcePluginName, "connection.url": pg.DSN(), "publication.tables": "orders",
		"value.format": "row", "topic.prefix": "shop",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create(tctx, "orders-mirror", map[string]string{
		"connector.class": SinkPluginName, "topics": "shop.public.orders", "connection.url": pg.DSN(),
		"table.name.format": "orders_mirror", "insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true",
	}); err != nil {
		t.Fatal(err)
	}
	same := func() bool {
		n, _ := countRows(t, pg, `SELECT (SELECT count(*) FROM (SELECT * FROM orders EXCEPT SELECT * FROM orders_mirror) a) +
			(SELECT count(*) FROM (SELECT * FROM orders_mirror EXCEPT SELECT * FROM orders) b), 0`)
		return n == 0
	}
	waitFor(t, tctx, same)

	pg.Exec(t, `UPDATE orders SET total = total * 2, items = array_append(items, 'gift') WHERE id % 5 = 0`)
	pg.Exec(t, `DELETE FROM orders WHERE id % 7 = 0`)
	pg.Exec(t, `INSERT INTO orders VALUES (100, 'new', 9.99, '{"a,b","c\"d"}', now())`)
	waitFor(t, tctx, same)
	wantRows(t, query(t, pg, `SELECT count(*) FROM orders_mirror`), "44")
	if st, err := w.Status(tctx, "orders-mirror"); err != nil || st.Connector.State != worker.StateRunning {
		t.Fatalf("sink status %+v %v", st, err)
	}
	if strings.Join(query(t, pg, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders_mirror'::regclass AND attnum > 0 ORDER BY attnum`), ",") !=
		"integer,text,numeric(10,2),text[],timestamp with time zone" {
		t.Fatalf("mirror column types: %v", query(t, pg, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders_mirror'::regclass AND attnum > 0 ORDER BY attnum`))
	}
}
