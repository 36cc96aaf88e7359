package runner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/examples/iot"
	"github.com/sluicehq/sluice/internal/brokertest"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/runner"
)

// TestRunSurvivesSIGKILL runs the IoT averages with `sluice run`, kills it
// with SIGKILL halfway through the data, starts it again, and checks that
// every window is there with no update lost (at least once, state restored
// from the changelog), and that the windows closed by the last commit
// before the kill are exact and emitted exactly once (the stream time
// committed with the offsets keeps them closed).
func TestRunSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve and sluice run")
	}
	k := runAndKill(t, "at_least_once")
	got, want, committed, grace := k.got, k.want, k.committed, k.grace
	if len(got) != len(want) {
		t.Errorf("%d windows, want %d", len(got), len(want))
	}
	exact, inflated := 0, 0
	for key, rs := range got {
		w := want[key]
		// A window is closed once stream time passes its end plus grace.
		closedAtCommit := !rs[0].Minute.Add(time.Minute + grace).After(committed)
		if closedAtCommit {
			// Computed from the input before the committed offsets, and
			// the restarted task resumed with the committed stream time:
			// every replayed record for it is late and dropped (the
			// window task's own replay, and the copies the key_by
			// sub-topology writes to the repartition topic again when it
			// replays its own uncommitted input), and nothing reopens or
			// re-emits it. Exact, once.
			exact++
			if len(rs) != 1 {
				t.Errorf("window %s closed by the last commit was emitted %d times: %+v", key, len(rs), rs)
			}
			if v := exactWindow(rs[0], w); v != "" {
				t.Errorf("window %s closed by the last commit: %s", key, v)
			}
			continue
		}
		// Windows open at the last commit cannot be exact under at-least-
		// once: the key_by sub-topology replays its input since its own
		// last commit and writes those records to the repartition topic
		// a second time, at new offsets, where the window task cannot
		// tell them from new data; and the window store's changelog may
		// hold state flushed for a commit whose offsets never made it.
		// So a count may be higher than the truth (and a window that
		// closed after the commit may come out again, from the replay),
		// but never lower (no update lost), and min and max, which
		// duplicates do not change, are exact. Exactly-once needs
		// transactions (TestRunExactlyOnceSurvivesSIGKILL).
		for _, a := range rs {
			if a.Readings < w.Readings || a.MinTemp != w.MinTemp || a.MaxTemp != w.MaxTemp {
				t.Errorf("window %s = %+v, want %+v", key, a, w)
			}
			if a.Readings != w.Readings {
				inflated++
			}
		}
	}
	if exact < 2*k.sensors {
		t.Errorf("only %d windows closed by the last commit before the kill, want at least %d", exact, 2*k.sensors)
	}
	t.Logf("%d windows closed by the last commit before the kill: exact, once; %d later results counted replayed records again (at-least-once)", exact, inflated)
}

// TestRunExactlyOnceSurvivesSIGKILL is TestRunSurvivesSIGKILL with
// `guarantee: exactly_once`: a read_committed consumer of the output sees
// every window exactly once with exact aggregates, the windows still open
// at the kill (whose records the key_by step had already written to the
// repartition topic, and whose state had gone to the changelog) included.
func TestRunExactlyOnceSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve and sluice run")
	}
	k := runAndKill(t, "exactly_once")
	if len(k.got) != len(k.want) {
		t.Errorf("%d windows, want %d", len(k.got), len(k.want))
	}
	open := 0
	for key, rs := range k.got {
		if len(rs) != 1 {
			t.Errorf("window %s emitted %d times: %+v", key, len(rs), rs)
		}
		if v := exactWindow(rs[0], k.want[key]); v != "" {
			t.Errorf("window %s: %s", key, v)
		}
		if rs[0].Minute.Add(time.Minute + k.grace).After(k.committed) {
			open++
		}
	}
	if open < k.sensors {
		t.Errorf("only %d windows were still open at the last commit before the kill, want at least %d", open, k.sensors)
	}
	t.Logf("%d windows exact and emitted once, %d of them open at the kill", len(k.got), open)
}

// windowResult is one output record of the averages pipeline.
type windowResult struct {
	SensorID string    `json:"sensor_id"`
	Minute   time.Time `json:"minute"`
	Readings int       `json:"readings"`
	AvgTemp  float64   `json:"avg_temp"`
	MinTemp  float64   `json:"min_temp"`
	MaxTemp  float64   `json:"max_temp"`
}

func exactWindow(a windowResult, w iot.Average) string {
	if a.Readings != w.Readings || absDiff(a.AvgTemp, w.AvgTemp) > 0.0100001 || a.MinTemp != w.MinTemp || a.MaxTemp != w.MaxTemp {
		return fmt.Sprintf("%+v, want %+v", a, w)
	}
	return ""
}

type killRun struct {
	got       map[string][]windowResult
	want      map[string]iot.Average
	committed time.Time // the window task's last committed stream time before the kill
	grace     time.Duration
	sensors   int
}

// runAndKill runs the IoT averages pipeline with the guarantee in `sluice
// run`, SIGKILLs it halfway through the data once it has committed two
// closed minutes, starts it again, waits until it has caught up and reads
// the output (read_committed).
func runAndKill(t *testing.T, guarantee string) killRun {
	b := brokertest.Start(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "averages.yaml")
	// Only the averages pipeline, without its file and Parquet sinks.
	if err := os.WriteFile(file, []byte(`
name: iot-averages
guarantee: `+guarantee+`
sources:
  readings:
    topic: iot.readings
    schema: {sensor_id: string, temperature: float64, humidity: float64, battery: float64, ts: timestamp}
    timestamp: ts
steps:
  - key_by: sensor_id
  - window:
      type: tumbling
      size: 1m
      grace: 10s
      aggregates: {readings: count(), avg_temp: avg(temperature), min_temp: min(temperature), max_temp: max(temperature)}
  - map: {sensor_id: key, minute: window_start, readings: readings, avg_temp: 'round(avg_temp * 100) / 100', min_temp: min_temp, max_temp: max_temp}
to: out
sinks: {out: iot.averages}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *runProc {
		cmd := exec.Command(brokertest.Binary(t), "run", "--brokers", b.Addr, "--state-dir", filepath.Join(dir, "state"), "--log-level", "warn", file)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &runProc{cmd: cmd, done: make(chan struct{})}
		go func() { p.err = cmd.Wait(); close(p.done) }()
		return p
	}
	cmd := start()
	defer func() { cmd.kill() }()

	cfg := iot.DefaultConfig()
	cfg.Sensors = 8
	cfg.Duration = 6*time.Minute + 15*time.Second
	var all []iot.Reading
	iot.Generate(cfg, func(r iot.Reading) error { all = append(all, r); return nil })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	produce := func(rs []iot.Reading) error {
		for _, r := range rs {
			cl.Produce(ctx, &kgo.Record{Topic: "iot.readings", Key: []byte(r.SensorID), Value: r.JSON(), Timestamp: r.TS}, nil)
		}
		return cl.Flush(ctx)
	}
	half := len(all) / 2
	if err := produce(all[:half]); err != nil {
		t.Fatal(err)
	}
	// Wait until the window task has committed a stream time that closes
	// the first two minutes, then kill mid-stream: while more readings
	// flow in and the pipeline processes them.
	const grace = 10 * time.Second
	firstMinute := all[0].TS.Truncate(time.Minute)
	waitCommittedStreamTime(t, cl, cmd, "sluice-iot-averages", firstMinute.Add(2*time.Minute+grace))
	third := half + (len(all)-half)/3
	streamed := make(chan error, 1)
	go func() {
		for i := half; i < third; i += 20 {
			if err := produce(all[i:min(i+20, third)]); err != nil {
				streamed <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		streamed <- nil
	}()
	time.Sleep(300 * time.Millisecond)
	cmd.kill()
	if err := <-streamed; err != nil {
		t.Fatal(err)
	}
	// What the dead instance committed last; nothing commits for the
	// group until the restart.
	committed := committedStreamTime(t, cl, "sluice-iot-averages")
	if err := produce(all[third:]); err != nil {
		t.Fatal(err)
	}
	cmd = start()

	// The runner's lag tells when the restarted pipeline has caught up.
	set, diags, err := pipelines.Lint(nil, file)
	if err != nil || len(diags) > 0 {
		t.Fatal(err, diags)
	}
	r, err := runner.New(set, nil, runner.Config{Brokers: []string{b.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		l, err := r.Lag(ctx)
		if err == nil && l.CaughtUp() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up after restart: %v %v", l, err)
		}
		time.Sleep(300 * time.Millisecond)
	}

	want, _ := iot.Expected(cfg, 1e9)
	got := map[string][]windowResult{}
	for _, r := range brokertest.ReadCommitted(t, b.Addr, "iot.averages") {
		v := r.Value
		var a windowResult
		if err := json.Unmarshal(v, &a); err != nil {
			t.Fatal(err)
		}
		k := iot.Key(a.SensorID, a.Minute)
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected window %s", k)
			continue
		}
		got[k] = append(got[k], a)
	}
	return killRun{got: got, want: want, committed: committed, grace: grace, sensors: cfg.Sensors}
}

// committedStreamTime is the largest stream time the application committed
// for a task reading an internal repartition topic (the window task).
func committedStreamTime(t *testing.T, cl *kgo.Client, group string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var best int64 = -1
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil || !strings.HasSuffix(o.Topic, "-repartition") {
			return
		}
		st, ok, err := engine.DecodeStreamTime(o.Metadata)
		if err != nil {
			t.Fatalf("commit metadata of %s/%d: %v", o.Topic, o.Partition, err)
		}
		if ok && st > best {
			best = st
		}
	})
	if best < 0 {
		return time.Time{}
	}
	return time.UnixMilli(best)
}

// runProc is a running `sluice run`.
type runProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// kill SIGKILLs the process and waits for it.
func (p *runProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func waitCommittedStreamTime(t *testing.T, cl *kgo.Client, p *runProc, group string, atLeast time.Time) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if !committedStreamTime(t, cl, group).Before(atLeast) {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("sluice run exited before committing stream time %v: %v", atLeast, p.err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	t.Fatalf("%s never committed stream time %v: offsets %+v %v", group, atLeast, offs, err)
}

func absDiff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}
