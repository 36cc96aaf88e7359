package compat

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// confluentTxnScript is confluent_txn.py next to this file.
func confluentTxnScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "confluent_txn.py")
}

// runPython runs the script and returns its stdout lines.
func runPython(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, systemPython, append([]string{confluentTxnScript()}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("confluent_txn.py %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestConfluentKafkaPythonTransactions: librdkafka's transactional producer
// (init_transactions, commit, abort, send_offsets_to_transaction) against
// Sluice; librdkafka's and franz-go's read_committed consumers see the
// committed transactions only, read_uncommitted ones see the aborted one
// too, and the offsets committed in the transaction are the group's.
func TestConfluentKafkaPythonTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: runs sluice serve and Python")
	}
	if out, err := exec.Command(systemPython, "-c", "import confluent_kafka").CombinedOutput(); err != nil {
		t.Skipf("%s with confluent_kafka not available (Debian package python3-confluent-kafka): %v %s", systemPython, err, out)
	}
	b := brokertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"py-txn-in", "py-txn-out"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	var in []string
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("in-%03d", i)
		in = append(in, "out:"+v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "py-txn-in", Key: []byte(fmt.Sprint(i)), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	if out := runPython(t, "transact", b.Addr, "py-txn-out", "py-txn-in", "py-txn-group"); len(out) != 1 || out[0] != "transformed 20" {
		t.Fatalf("transact printed %q", out)
	}

	var committed, aborted []string
	for i := 0; i < 10; i++ {
		committed = append(committed, fmt.Sprintf("commit-%03d", i))
		aborted = append(aborted, fmt.Sprintf("abort-%03d", i))
	}
	wantCommitted := sortedCopy(append(append([]string{}, committed...), in...))
	wantAll := sortedCopy(append(append(append([]string{}, committed...), in...), aborted...))
	if got := sortedCopy(runPython(t, "read", b.Addr, "py-txn-out", "read_committed")); !equalStrings(got, wantCommitted) {
		t.Fatalf("librdkafka read_committed saw %v\nwant %v", got, wantCommitted)
	}
	if got := sortedCopy(runPython(t, "read", b.Addr, "py-txn-out", "read_uncommitted")); !equalStrings(got, wantAll) {
		t.Fatalf("librdkafka read_uncommitted saw %v\nwant %v", got, wantAll)
	}

	// franz-go agrees, and the group's offsets are at the end of the input.
	ends, err := adm.ListCommittedOffsets(ctx, "py-txn-out")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics("py-txn-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	for len(got) < len(wantCommitted) {
		fs := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read_committed: %d of %d records (end offsets %v)", len(got), len(wantCommitted), ends)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if got = sortedCopy(got); !equalStrings(got, wantCommitted) {
		t.Fatalf("franz-go read_committed saw %v", got)
	}
	inEnds, err := adm.ListEndOffsets(ctx, "py-txn-in")
	if err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, "py-txn-group")
	if err != nil {
		t.Fatal(err)
	}
	inEnds.Each(func(e kadm.ListedOffset) {
		if o, ok := offs.Lookup("py-txn-in", e.Partition); !ok || o.At != e.Offset {
			t.Errorf("group offset of py-txn-in[%d]: %+v, want %d", e.Partition, o, e.Offset)
		}
	})
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
