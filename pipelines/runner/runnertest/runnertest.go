// Package runnertest runs YAML pipelines inside a test against a real
// broker (usually a `sluice serve` started by internal/brokertest), with
// the same runner `sluice run` uses, and waits for them to process what
// they were given.
package runnertest

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/runner"
)

// Run is a set of pipelines running in the background of a test.
type Run struct {
	t      testing.TB
	R      *runner.Runner
	cancel context.CancelFunc
	done   chan error
}

// Start lints the files (name -> contents) with env as the environment,
// fails the test on any diagnostic, and runs the pipelines against
// brokers until the test ends or Stop is called.
func Start(t testing.TB, brokers []string, files map[string][]byte, env map[string]string) *Run {
	t.Helper()
	opts := &pipelines.Options{Env: func(name string) (string, bool) { v, ok := env[name]; return v, ok }}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	set := &pipelines.Set{}
	var diags pipelines.Diagnostics
	for _, n := range names {
		ps, ds := pipelines.Parse(n, files[n], opts)
		set.Pipelines = append(set.Pipelines, ps...)
		diags = append(diags, ds...)
	}
	diags = append(diags, pipelines.Check(set, opts)...)
	if len(diags) > 0 {
		var b strings.Builder
		for _, d := range diags {
			b.WriteString(d.String() + "\n")
		}
		t.Fatalf("runnertest: pipelines do not lint clean:\n%s", b.String())
	}
	r, err := runner.New(set, nil, runner.Config{Brokers: brokers, StateDir: t.TempDir(),
		CommitInterval: 200 * time.Millisecond, ConnectorFlushInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("runnertest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &Run{t: t, R: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { run.Stop() })
	return run
}

// WaitTopics waits until the runner has created topics (it does so first
// thing), so a test can produce to them.
func (r *Run) WaitTopics(cl *kgo.Client, topics ...string) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := kadmTopics(ctx, cl, topics)
		cancel()
		if err == nil && md {
			return
		}
		select {
		case err := <-r.done:
			r.done <- err
			r.t.Fatalf("runnertest: pipelines stopped before creating topics: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.t.Fatalf("runnertest: topics %v not created", topics)
}

// WaitSettled waits until every pipeline and sink connector has consumed
// and committed everything (see runner.Runner.Settled), and stays so for a
// second, or fails the test after timeout.
func (r *Run) WaitSettled(timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	stable := 0
	var last runner.Lag
	for time.Now().Before(deadline) {
		select {
		case err := <-r.done:
			r.done <- err
			r.t.Fatalf("runnertest: pipelines stopped: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lag, err := r.R.Lag(ctx)
		cancel()
		last = lag
		if err == nil && r.R.Settled(lag) {
			stable++
			if stable >= 4 {
				return
			}
		} else {
			stable = 0
		}
	}
	r.t.Fatalf("runnertest: not settled after %v: lag %v, uncommitted %v", timeout, last.Groups, last.Uncommitted)
}

// Stop stops the pipelines gracefully and fails the test if they failed.
func (r *Run) Stop() {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			r.t.Errorf("runnertest: pipelines: %v", err)
		}
		r.done <- nil
	case <-time.After(60 * time.Second):
		r.t.Errorf("runnertest: pipelines did not stop within 60s")
	}
}
