package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// These tests run the real sluice binary against a real `sluice serve`
// process and check what a user sees: stdout, stderr and the exit code.

// cli runs the sluice binary with SLUICE_BROKERS pointing at a broker.
type cli struct {
	t       *testing.T
	bin     string
	brokers string
}

func newCLI(t *testing.T) (*cli, *brokertest.Broker) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs sluice serve")
	}
	b := brokertest.Start(t)
	return &cli{t: t, bin: brokertest.Binary(t), brokers: b.Addr}, b
}

type result struct {
	stdout, stderr string
	code           int
}

// run executes sluice with args and stdin; it never waits more than a minute.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), "SLUICE_BROKERS="+c.brokers)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("sluice %s: still running after a minute\nstderr: %s", strings.Join(args, " "), errb.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("sluice %s: %v", strings.Join(args, " "), err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("sluice %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must fail with exactly one line on stderr
// containing want.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	r := c.run("", args...)
	if r.code == 0 {
		c.t.Fatalf("sluice %s: succeeded, want failure %q\nstdout: %s", strings.Join(args, " "), want, r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) || !strings.HasPrefix(lines[0], "sluice: ") {
		c.t.Fatalf("sluice %s: stderr %q, want one line `sluice: ...%s...`", strings.Join(args, " "), r.stderr, want)
	}
}

func TestTopicCommands(t *testing.T) {
	c, _ := newCLI(t)
	if out := c.ok("", "topic", "create", "orders", "-p", "3", "-c", "retention.ms=3600000"); !strings.Contains(out, "created topic orders with 3 partitions") {
		t.Fatalf("create printed %q", out)
	}
	c.fails("topic orders already exists", "topic", "create", "orders", "-p", "3")
	c.ok("", "topic", "create", "orders", "--if-not-exists")
	c.ok("", "topic", "create", "users", "-p", "1", "-c", "cleanup.policy=compact")

	list := c.ok("", "topic", "list")
	if !strings.Contains(list, "orders") || !strings.Contains(list, "users") || strings.Contains(list, "__consumer_offsets") {
		t.Fatalf("topic list:\n%s", list)
	}
	var listed []struct {
		Topic      string `json:"topic"`
		Partitions int    `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "topic", "list", "--json")), &listed); err != nil || len(listed) != 2 || listed[0].Topic != "orders" || listed[0].Partitions != 3 {
		t.Fatalf("topic list --json: %+v, %v", listed, err)
	}

	describe := func(name string) topicDescription {
		t.Helper()
		var ds []topicDescription
		if err := json.Unmarshal([]byte(c.ok("", "topic", "describe", name, "--json")), &ds); err != nil || len(ds) != 1 {
			t.Fatalf("describe %s: %v", name, err)
		}
		return ds[0]
	}
	d := describe("orders")
	if len(d.Partitions) != 3 || d.Configs["retention.ms"] != "3600000" {
		t.Fatalf("describe orders: %+v", d)
	}
	text := c.ok("", "topic", "describe", "orders")
	for _, want := range []string{"Topic: orders", "Partitions: 3", "retention.ms=3600000", "PARTITION", "END-OFFSET"} {
		if !strings.Contains(text, want) {
			t.Errorf("describe text lacks %q:\n%s", want, text)
		}
	}

	c.ok("", "topic", "alter", "orders", "-p", "5", "-c", "retention.ms=7200000", "-c", "segment.bytes=1048576")
	d = describe("orders")
	if len(d.Partitions) != 5 || d.Configs["retention.ms"] != "7200000" || d.Configs["segment.bytes"] != "1048576" {
		t.Fatalf("after alter: %d partitions, configs %v", len(d.Partitions), d.Configs)
	}
	c.ok("", "topic", "alter", "orders", "--delete-config", "segment.bytes")
	if v, ok := describe("orders").Configs["segment.bytes"]; ok {
		t.Fatalf("segment.bytes still set to %s after --delete-config", v)
	}
	c.fails("topic orders has 5 partitions; -p can only raise the count", "topic", "alter", "orders", "-p", "2")
	c.fails("nothing to alter", "topic", "alter", "orders")
	c.fails(`-c "retention.ms": want key=value`, "topic", "alter", "orders", "-c", "retention.ms")
	c.fails("topic nope does not exist", "topic", "describe", "nope")
	c.fails("topic nope does not exist", "topic", "alter", "nope", "-c", "retention.ms=1")
	c.fails("-p 0: a topic needs at least 1 partition", "topic", "create", "zero", "-p", "0")

	if out := c.ok("", "topic", "delete", "users"); !strings.Contains(out, "deleted topic users") {
		t.Fatalf("delete printed %q", out)
	}
	c.fails("topic users does not exist", "topic", "delete", "users")
	c.ok("", "topic", "delete", "users", "--if-exists")
	if list := c.ok("", "topic", "list"); strings.Contains(list, "users") {
		t.Fatalf("users still listed after delete:\n%s", list)
	}
}

// consumeJSON runs consume with --format json and decodes every line.
func consumeJSON(t *testing.T, c *cli, args ...string) []jsonRecord {
	t.Helper()
	out := c.ok("", append([]string{"consume", "--format", "json"}, args...)...)
	var recs []jsonRecord
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r jsonRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("consume printed a non-JSON line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// kvs renders records as sorted "key=value" strings for set comparisons.
func kvs(recs []jsonRecord) []string {
	var out []string
	for _, r := range recs {
		k, v := "<nil>", "<nil>"
		if r.Key != nil {
			k = *r.Key
		}
		if r.Value != nil {
			v = *r.Value
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestProduceAndConsume(t *testing.T) {
	c, _ := newCLI(t)
	c.ok("", "topic", "create", "events", "-p", "2")

	// Keys from stdin; the blank line is skipped; CRLF endings are trimmed.
	r := c.run("a:1\r\nb:2\n\nc:3\n", "produce", "events", "-K", ":", "-H", "source=test", "--acks", "1", "--compression", "zstd")
	if r.code != 0 || !strings.Contains(r.stderr, "produced 3 records to events") {
		t.Fatalf("produce: exit %d, stderr %q", r.code, r.stderr)
	}
	recs := consumeJSON(t, c, "events", "--from-beginning", "--exit-at-end")
	if got := strings.Join(kvs(recs), " "); got != "a=1 b=2 c=3" {
		t.Fatalf("consumed %s, want a=1 b=2 c=3", got)
	}
	for _, rec := range recs {
		if rec.Topic != "events" || rec.Timestamp <= 0 || len(rec.Headers) != 1 || rec.Headers[0].Key != "source" || *rec.Headers[0].Value != "test" {
			t.Fatalf("record metadata: %+v", rec)
		}
	}

	// From a file, without keys.
	file := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(file, []byte("x\ny\nz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("", "produce", "events", "-f", file, "--partition", "1")
	p1 := consumeJSON(t, c, "events", "--partition", "1", "--from-beginning", "-e")
	var vals []string
	for _, r := range p1 {
		if r.Partition != 1 {
			t.Fatalf("--partition 1 printed a record of partition %d", r.Partition)
		}
		vals = append(vals, *r.Value)
	}
	if got := strings.Join(vals, ""); !strings.HasSuffix(got, "xyz") {
		t.Fatalf("partition 1 values %q, want them to end with x y z in order", got)
	}

	// --offset picks exact positions; negative counts back from the end.
	last := p1[len(p1)-1]
	if got := consumeJSON(t, c, "events", "--partition", "1", "--offset", "-1", "-e"); len(got) != 1 || *got[0].Value != "z" {
		t.Fatalf("--offset -1: %+v", got)
	}
	if got := consumeJSON(t, c, "events", "--partition", "1", "--offset", itoa(last.Offset-1), "-e"); len(got) != 2 {
		t.Fatalf("--offset %d: %d records, want 2", last.Offset-1, len(got))
	}
	// --timestamp: everything is after 2020, nothing after a minute from now.
	if got := consumeJSON(t, c, "events", "--timestamp", "2020-01-01T00:00:00Z", "-e"); len(got) != 6 {
		t.Fatalf("--timestamp 2020: %d records, want 6", len(got))
	}
	future := itoa(time.Now().Add(time.Minute).UnixMilli())
	if got := consumeJSON(t, c, "events", "--timestamp", future, "-e"); len(got) != 0 {
		t.Fatalf("--timestamp in the future: %d records, want 0", len(got))
	}
	// --count stops early; text format with keys.
	out := c.ok("", "consume", "events", "--partition", "0", "--from-beginning", "--count", "1", "--print-key", "--key-separator", "|")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "|") {
		t.Fatalf("--count 1 --print-key printed %q", out)
	}

	// A bad line stops the run with its line number, after delivering the
	// lines before it.
	c.ok("", "topic", "create", "strict", "-p", "1")
	r = c.run("k1:v1\nno separator here\nk3:v3\n", "produce", "strict", "-K", ":")
	if r.code == 0 || !strings.Contains(r.stderr, "line 2: no key separator") {
		t.Fatalf("bad line: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := strings.Join(kvs(consumeJSON(t, c, "strict", "--from-beginning", "-e")), " "); got != "k1=v1" {
		t.Fatalf("after a bad line 2 the topic holds %q, want k1=v1", got)
	}
	r = c.run(strings.Repeat("x", 100)+"\n", "produce", "strict", "--max-line-bytes", "10")
	if r.code == 0 || !strings.Contains(r.stderr, "line 1: longer than 10 bytes") {
		t.Fatalf("long line: exit %d, stderr %q", r.code, r.stderr)
	}

	c.fails("topic nope does not exist", "produce", "nope")
	c.fails("topic nope does not exist", "consume", "nope", "-e")
	c.fails(`--acks "2": want all, 1 or 0`, "produce", "events", "--acks", "2")
	c.fails(`--compression "brotli"`, "produce", "events", "--compression", "brotli")
	c.fails("--partition 9: topic events has partitions 0..1", "consume", "events", "--partition", "9")
	c.fails("--offset and --timestamp cannot be used with --group", "consume", "events", "--group", "g", "--offset", "3")
	c.fails("give only one of --from-beginning, --offset and --timestamp", "consume", "events", "--from-beginning", "--offset", "3")
	c.fails(`--timestamp "yesterday"`, "consume", "events", "--timestamp", "yesterday")
	c.fails(`--format "xml"`, "consume", "events", "--format", "xml")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUnreachableBrokerFailsInOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	// A port nothing listens on: connection refused, reported at once.
	c := &cli{t: t, bin: brokertest.Binary(t), brokers: brokertest.FreePort(t)}
	for _, args := range [][]string{
		{"topic", "list", "--timeout", "3s"},
		{"topic", "create", "x", "--timeout", "3s"},
		{"produce", "x", "--timeout", "3s"},
		{"consume", "x", "--timeout", "3s"},
		{"group", "list", "--timeout", "3s"},
	} {
		c.fails("cannot reach broker "+c.brokers, args...)
	}
	// --brokers beats the environment.
	c.brokers = "127.0.0.1:9"
	c.fails("cannot reach broker 127.0.0.1:1", "topic", "list", "--brokers", "127.0.0.1:1", "--timeout", "3s")
}
