package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestGroupCommands(t *testing.T) {
	c, _ := newCLI(t)
	c.ok("", "topic", "create", "jobs", "-p", "2")
	var in strings.Builder
	for i := 0; i < 10; i++ {
		in.WriteString("k" + itoa(int64(i)) + ":v" + itoa(int64(i)) + "\n")
	}
	c.ok(in.String(), "produce", "jobs", "-K", ":")

	// Two runs of --count 4 print 8 different records: each run commits
	// exactly what it printed.
	first := consumeJSON(t, c, "jobs", "--group", "workers", "--from-beginning", "--count", "4")
	second := consumeJSON(t, c, "jobs", "--group", "workers", "--from-beginning", "--count", "4")
	seen := map[string]bool{}
	for _, r := range append(first, second...) {
		k := *r.Key
		if seen[k] {
			t.Fatalf("record %s printed twice across group runs", k)
		}
		seen[k] = true
	}
	if len(seen) != 8 {
		t.Fatalf("two --count 4 runs printed %d distinct records, want 8", len(seen))
	}

	if list := c.ok("", "group", "list"); !strings.Contains(list, "workers") || !strings.Contains(list, "Empty") {
		t.Fatalf("group list:\n%s", list)
	}
	describe := func() groupDescription {
		t.Helper()
		var ds []groupDescription
		if err := json.Unmarshal([]byte(c.ok("", "group", "describe", "workers", "--json")), &ds); err != nil || len(ds) != 1 {
			t.Fatalf("group describe --json: %v", err)
		}
		return ds[0]
	}
	d := describe()
	if d.State != "Empty" || d.TotalLag != 2 {
		t.Fatalf("describe after 8 of 10: state %s, lag %d, want Empty and 2", d.State, d.TotalLag)
	}
	if text := c.ok("", "group", "describe", "workers"); !strings.Contains(text, "CURRENT-OFFSET") || !strings.Contains(text, "TotalLag: 2") {
		t.Fatalf("group describe text:\n%s", text)
	}

	committed := func() map[int32]int64 {
		m := map[int32]int64{}
		for _, o := range describe().Offsets {
			m[o.Partition] = o.Committed
		}
		return m
	}
	before := committed()

	// A dry run changes nothing; --execute does.
	r := c.run("", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest")
	if r.code != 0 || !strings.Contains(r.stderr, "dry run") || !strings.Contains(r.stdout, "NEW-OFFSET") {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := committed(); !equalOffsets(after, before) {
		t.Fatalf("dry run moved offsets from %v to %v", before, after)
	}
	c.ok("", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-earliest", "--execute")
	if all := consumeJSON(t, c, "jobs", "--group", "workers", "--count", "10"); len(all) != 10 {
		t.Fatalf("after reset to earliest the group read %d records, want 10", len(all))
	}
	if d := describe(); d.TotalLag != 0 {
		t.Fatalf("lag %d after reading everything", d.TotalLag)
	}

	c.ok("", "group", "reset-offsets", "workers", "--topic", "jobs:0", "--shift-by", "-2", "--execute")
	c.ok("", "group", "reset-offsets", "workers", "--topic", "jobs:1", "--to-offset", "1000000", "--execute")
	got := committed()
	ends := map[int32]int64{}
	for _, o := range describe().Offsets {
		ends[o.Partition] = o.End
	}
	if got[0] != ends[0]-2 || got[1] != ends[1] {
		t.Fatalf("after shift-by -2 on 0 and to-offset past the end on 1: committed %v, ends %v", got, ends)
	}
	c.ok("", "group", "reset-offsets", "workers", "--all-topics", "--to-timestamp", "2020-01-01T00:00:00Z", "--execute")
	if got := committed(); got[0] != 0 || got[1] != 0 {
		t.Fatalf("to-timestamp 2020: committed %v, want zeros", got)
	}

	c.fails("give exactly one of --to-earliest", "group", "reset-offsets", "workers", "--topic", "jobs")
	c.fails("give --topic (repeatable) or --all-topics", "group", "reset-offsets", "workers", "--to-latest")
	c.fails("topic nope does not exist", "group", "reset-offsets", "workers", "--topic", "nope", "--to-latest")
	c.fails("group nope does not exist", "group", "describe", "nope")

	// A running member makes the group active: resetting and deleting it
	// are refused until it stops.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	member := exec.CommandContext(ctx, c.bin, "consume", "jobs", "--group", "workers")
	member.Env = append(os.Environ(), "SLUICE_BROKERS="+c.brokers)
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for describe().State != "Stable" {
		if time.Now().After(deadline) {
			t.Fatal("the member never made the group Stable")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := describe(); len(d.Members) != 1 || len(d.Members[0].Assigned) != 1 || !strings.HasPrefix(d.Members[0].Assigned[0], "jobs[") {
		t.Fatalf("active group members: %+v", d.Members)
	}
	if text := c.ok("", "group", "describe", "workers"); !strings.Contains(text, "CLIENT-ID") || !strings.Contains(text, "sluice-cli") {
		t.Fatalf("describe of an active group lacks its member:\n%s", text)
	}
	c.fails("group workers is active (state Stable, 1 members)", "group", "reset-offsets", "workers", "--topic", "jobs", "--to-latest", "--execute")
	c.fails("group workers still has active members", "group", "delete", "workers")
	_ = member.Process.Signal(os.Interrupt)
	_ = member.Wait()

	if out := c.ok("", "group", "delete", "workers"); !strings.Contains(out, "deleted group workers") {
		t.Fatalf("group delete printed %q", out)
	}
	c.fails("group workers does not exist", "group", "delete", "workers")
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
