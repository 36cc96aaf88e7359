package compat

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// procMember is a group member running as a separate program (kcat, a
// Python script) that prints one consumed record per line as key:value.
type procMember struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
	wg     sync.WaitGroup
}

// startProc starts cmd and reports each key:value line it prints to c.
func startProc(t *testing.T, name string, id int, c *collector, cmd *exec.Cmd) *procMember {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m := &procMember{t: t, name: name, cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = m.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				t.Errorf("%s printed %q, want key:value", name, sc.Text())
				continue
			}
			c.add(id, kv{k, v})
		}
	}()
	go func() { m.wg.Wait(); _ = cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		select {
		case <-m.done:
		default:
			_ = cmd.Process.Kill()
			<-m.done
		}
	})
	return m
}

// stop asks the program to leave the group and commit (SIGTERM), as an
// operator would, and waits for it to exit.
func (m *procMember) stop() {
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.done
		m.t.Errorf("%s did not exit within 30s of SIGTERM; stderr:\n%s", m.name, m.stderr.String())
	}
}

// runTool runs a command to completion with stdin and fails the test on a
// non-zero exit.
func runTool(t *testing.T, stdin string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// lines renders records as key:value lines.
func lines(records []kv) string {
	var b strings.Builder
	for _, r := range records {
		b.WriteString(r.Key + ":" + r.Value + "\n")
	}
	return b.String()
}
