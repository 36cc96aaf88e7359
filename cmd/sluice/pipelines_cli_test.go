package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// runSluice runs the sluice binary and returns its output and exit code.
func runSluice(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(brokertest.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("sluice %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func TestLintCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	repo := filepath.Join("..", "..")
	out, errOut, code := runSluice(t, nil, "lint", filepath.Join(repo, "examples", "iot", "pipeline.yaml"), filepath.Join(repo, "examples", "payments", "pipeline.yaml"))
	if code != 0 || !strings.Contains(out, "ok: 4 pipeline(s)") {
		t.Errorf("lint examples: exit %d\n%s%s", code, out, errOut)
	}
	bad := filepath.Join(repo, "pipelines", "testdata", "broken", "45-many-problems.yaml")
	_, errOut, code = runSluice(t, nil, "lint", bad)
	if code != 1 || strings.Count(errOut, "45-many-problems.yaml:") != 5 || !strings.Contains(errOut, `:9:13: key_by step: unknown field sensor (hint: did you mean "sensor_id"?)`) {
		t.Errorf("lint broken file: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runSluice(t, nil, "lint", "no-such-file.yaml")
	if code != 2 {
		t.Errorf("lint missing file: exit %d\n%s", code, errOut)
	}
}

func TestDescribeCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	out, errOut, code := runSluice(t, nil, "describe", filepath.Join("..", "..", "examples", "iot", "pipeline.yaml"))
	for _, want := range []string{"Pipeline iot-averages", "application id: sluice-iot-averages", "Sub-topology: 1",
		"Processor: window-2 (stores: [window-2-store])", "Sink: to-averages (topic: iot.averages)", "connector.class=parquet-sink"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe: no %q in\n%s%s (exit %d)", want, out, errOut, code)
		}
	}
}

// TestRunCommand runs `sluice run --embedded` on a small pipeline, feeds it
// through the embedded broker, reads the result, and stops it with SIGTERM.
// A file that does not lint clean is refused before anything starts.
func TestRunCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nsources: {in: a}\nsteps:\n  - fliter: true\nto: out\nsinks: {out: b}\n"), 0o644)
	_, errOut, code := runSluice(t, nil, "run", "--embedded", bad)
	if code != 1 || !strings.Contains(errOut, `bad.yaml:4:5: pipeline "x": steps[0]: unknown step "fliter"`) || strings.Contains(errOut, "embedded broker on") {
		t.Fatalf("run of a broken file: exit %d\n%s", code, errOut)
	}

	good := filepath.Join(dir, "p.yaml")
	os.WriteFile(good, []byte(`name: doubler
sources: {in: numbers}
steps:
  - filter: n > 1
  - map: {n: n, twice: n * 2}
to: out
sinks: {out: doubled}
`), 0o644)
	cmd := exec.Command(brokertest.Binary(t), "run", "--embedded", "--data-dir", filepath.Join(dir, "data"), "--state-dir", filepath.Join(dir, "state"), "--log-level", "warn", good)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrRE := regexp.MustCompile(`embedded broker on (\S+)`)
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := addrRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var broker string
	select {
	case broker = <-addr:
	case <-time.After(30 * time.Second):
		t.Fatal("sluice run --embedded did not report its broker")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("doubled"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, v := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "numbers", Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for len(got) < 2 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, " ") != `{"n":2,"twice":4} {"n":3,"twice":6}` {
		t.Errorf("doubled: %v", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("sluice run after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("sluice run did not stop within 60s of SIGTERM")
	}
}

// TestDemoCommand runs `sluice demo` (what `make demo` runs) on small data
// sets and checks what it reports and writes.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sluice binary")
	}
	out := t.TempDir()
	stdout, stderr, code := runSluice(t, nil, "demo", "iot", "--sensors", "5", "--minutes", "3", "--out", out)
	if code != 0 {
		t.Fatalf("demo iot: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"done: every record processed", "averages.jsonl           15 per-sensor one-minute averages", "Look at it:"} {
		if !strings.Contains(stdout+stderr, want) {
			t.Errorf("demo iot: no %q in\n%s%s", want, stdout, stderr)
		}
	}
	files, _ := filepath.Glob(filepath.Join(out, "parquet", "iot.averages", "*.parquet"))
	if len(files) < 2 {
		t.Fatalf("demo iot: %d Parquet files", len(files))
	}
	rows, _, code := runSluice(t, nil, "demo", "cat", files[0])
	if code != 0 || strings.Count(rows, "\n") != 5 || !strings.Contains(rows, `"sensor_id":"sensor-001"`) {
		t.Errorf("demo cat %s: exit %d\n%s", files[0], code, rows)
	}

	stdout, stderr, code = runSluice(t, nil, "demo", "payments", "--out", out)
	if code != 0 || !strings.Contains(stdout, "enriched.jsonl   3000 payments") || !strings.Contains(stdout, "265 velocity flags") {
		t.Errorf("demo payments: exit %d\n%s%s", code, stdout, stderr)
	}
}
