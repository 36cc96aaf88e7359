package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// terminate stops the process with SIGTERM (a graceful stop) and waits.
func (p *connectProc) terminate() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Errorf("sluice connect did not stop on SIGTERM:\n%s", p.out.String())
		p.kill()
	}
}

// appendLines writes lines to path, n at a time with a pause between, the
// way a log file grows.
func appendLines(t *testing.T, path string, lines []string, n int, pause time.Duration) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 0; i < len(lines); i += n {
			if _, err := f.WriteString(strings.Join(lines[i:min(i+n, len(lines))], "\n") + "\n"); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(pause)
		}
	}()
	return done
}

// endOffset is the high watermark of partition 0 of topic (0 before it
// exists).
func endOffset(t *testing.T, addr, topic string) int64 {
	ends, err := kadm.NewClient(client(t, addr)).ListEndOffsets(context.Background(), topic)
	if err != nil {
		return 0
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// killMidStream starts a worker process, waits until it writes to topic,
// lets it run a little longer and SIGKILLs it.
func killMidStream(t *testing.T, bin, addr, rest, topic string, args ...string) {
	from := endOffset(t, addr, topic)
	p := startConnectProc(t, bin, addr, rest, args...)
	waitFor(t, "the worker to write", func() bool { return endOffset(t, addr, topic) > from })
	time.Sleep(time.Duration(50+rand.IntN(300)) * time.Millisecond)
	p.kill()
}

// duplicates counts values seen more than once.
func duplicates(vals []string) int {
	return len(vals) - len(dedupInOrder(vals))
}

// killSetup is a file source in `sluice connect` processes with their own
// internal topics.
type killSetup struct {
	props, conn, in, topic string
}

func newKillSetup(t *testing.T, name, mode string, connector ...string) killSetup {
	dir := t.TempDir()
	s := killSetup{props: filepath.Join(dir, "worker.properties"), conn: filepath.Join(dir, "src.json"),
		in: filepath.Join(dir, "in.jsonl"), topic: "rows-" + name}
	props := fmt.Sprintf("offset.flush.interval.ms=100\ntask.shutdown.graceful.timeout.ms=5000\n"+
		"exactly.once.source.support=%s\ntransaction.timeout.ms=20000\n"+
		"config.storage.topic=cfg-%[2]s\noffset.storage.topic=off-%[2]s\nstatus.storage.topic=st-%[2]s\n", mode, name)
	if err := os.WriteFile(s.props, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`"connector.class":"file-source","file":%q,"tail":true,"topic":%q,"poll.interval":"20ms","batch.size":50`, s.in, s.topic)
	for i := 0; i+1 < len(connector); i += 2 {
		cfg += fmt.Sprintf(",%q:%q", connector[i], connector[i+1])
	}
	if err := os.WriteFile(s.conn, []byte(`{"name":"src","config":{`+cfg+`}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestExactlyOnceKillWorkerProcess runs a file source in a `sluice
// connect` process and SIGKILLs it mid-stream, several times, while the
// file grows. With exactly.once.source.support=enabled a read_committed
// consumer of the topic sees every line exactly once, in order, whatever
// the transaction boundary. The same run with exactly-once disabled is
// the control: it shows the kills do leave duplicates behind (at-least-once),
// so the exactly-once assertion is one that can fail.
func TestExactlyOnceKillWorkerProcess(t *testing.T) {
	b := startBroker(t)
	bin := brokertest.Binary(t)
	rounds, total := 5, 6000
	if testing.Short() {
		rounds, total = 2, 2000
	}
	input := lines(total, 0)

	for _, c := range []struct {
		name, mode string
		connector  []string
	}{
		{"poll", "enabled", nil},
		{"interval", "enabled", []string{"transaction.boundary", "interval", "transaction.boundary.interval.ms", "300", "exactly.once.support", "required"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newKillSetup(t, c.name, c.mode, c.connector...)
			rest := brokertest.FreePort(t)
			writerDone := appendLines(t, s.in, input, 10, 10*time.Millisecond)
			for round := 0; round < rounds; round++ {
				killMidStream(t, bin, b.Addr, rest, s.topic, "--config", s.props, s.conn)
			}
			<-writerDone
			p := startConnectProc(t, bin, b.Addr, rest, "--config", s.props, s.conn)
			waitFor(t, "every line committed", func() bool {
				return len(dedupInOrder(values(readTopic(t, b.Addr, s.topic, true)))) >= len(input)
			})
			p.terminate()

			got := values(readTopic(t, b.Addr, s.topic, true))
			all := readTopic(t, b.Addr, s.topic, false)
			if len(got) != len(input) {
				t.Fatalf("read_committed sees %d records for %d lines: %d duplicates after %d SIGKILLs", len(got), len(input), duplicates(got), rounds)
			}
			for i := range input {
				if got[i] != input[i] {
					t.Fatalf("record %d is %s, want %s", i, got[i], input[i])
				}
			}
			t.Logf("%d lines exactly once after %d SIGKILLs; the log also holds %d records of aborted transactions",
				len(input), rounds, len(all)-len(got))
		})
	}

	t.Run("disabled", func(t *testing.T) {
		// The worker stores positions right behind the acks; the
		// failpoint holds each position write back 300ms so that kills
		// land between an ack and its position, as on a busy cluster.
		t.Setenv("SLUICE_CONNECT_FAILPOINT", "slow-position-writes")
		s := newKillSetup(t, "disabled", "disabled")
		rest := brokertest.FreePort(t)
		input := append([]string(nil), input...)
		writerDone := appendLines(t, s.in, input, 10, 10*time.Millisecond)
		// Kill until the log holds a duplicate; an at-least-once source
		// re-sends what it produced after its last stored position.
		dups, round := 0, 0
		for ; round < rounds || dups == 0 && round < 30; round++ {
			killMidStream(t, bin, b.Addr, rest, s.topic, "--config", s.props, s.conn)
			dups = duplicates(values(readTopic(t, b.Addr, s.topic, true)))
			select {
			case <-writerDone:
				if dups == 0 { // keep the stream flowing
					more := lines(total, len(input))
					input = append(input, more...)
					writerDone = appendLines(t, s.in, more, 10, 10*time.Millisecond)
				}
			default:
			}
		}
		<-writerDone
		if dups == 0 {
			t.Fatalf("no duplicates after %d SIGKILLs of an at-least-once source: the test cannot tell exactly-once from at-least-once", round)
		}
		p := startConnectProc(t, bin, b.Addr, rest, "--config", s.props, s.conn)
		waitFor(t, "every line delivered", func() bool {
			return len(dedupInOrder(values(readTopic(t, b.Addr, s.topic, true)))) >= len(input)
		})
		p.terminate()
		got := values(readTopic(t, b.Addr, s.topic, true))
		t.Logf("at-least-once: %d records for %d lines (%d duplicates) after %d SIGKILLs", len(got), len(input), duplicates(got), round)
	})
}
