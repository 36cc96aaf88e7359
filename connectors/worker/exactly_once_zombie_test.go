package worker_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/worker"
	"github.com/sluicehq/sluice/internal/brokertest"
)

// restStatus reads a connector's status from a worker process.
func restStatus(url, name string) (worker.ConnectorStatus, bool) {
	var st worker.ConnectorStatus
	resp, err := http.Get(url + "/connectors/" + name + "/status")
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&st) == nil && len(st.Tasks) == 1
}

// TestExactlyOnceZombieFenced freezes a worker (SIGSTOP, like a long GC
// pause or a network partition) in the middle of an exactly-once
// transaction. A second worker takes the task's lease once the frozen
// one's session expires and fences its transactional id. When the zombie
// wakes (SIGCONT) with its transaction still in hand, it must not commit
// it: it is fenced (or gives up its expired lease), stops cleanly without overwriting the new owner's
// status, and a read_committed consumer sees every line exactly once.
func TestExactlyOnceZombieFenced(t *testing.T) {
	b := startBroker(t)
	bin := brokertest.Binary(t)
	s := newKillSetup(t, "zombie", "enabled", "transaction.boundary", "interval", "transaction.boundary.interval.ms", "1000")

	// A writer appends lines until told to stop.
	stop, done := make(chan struct{}), make(chan struct{})
	var written []string
	go func() {
		defer close(done)
		f, err := os.OpenFile(s.in, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			batch := lines(10, len(written))
			if _, err := f.WriteString(strings.Join(batch, "\n") + "\n"); err != nil {
				t.Error(err)
				return
			}
			written = append(written, batch...)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}()

	restA, restB := brokertest.FreePort(t), brokertest.FreePort(t)
	a := startConnectProc(t, bin, b.Addr, restA, "--config", s.props, "--worker-id", "worker-a", s.conn)
	waitFor(t, "worker-a to run the task", func() bool {
		st, ok := restStatus(a.url, "src")
		return ok && st.Tasks[0].State == worker.StateRunning && st.Tasks[0].WorkerID == "worker-a" && endOffset(t, b.Addr, s.topic) > 0
	})
	bw := startConnectProc(t, bin, b.Addr, restB, "--config", s.props, "--worker-id", "worker-b", s.conn)
	time.Sleep(1500 * time.Millisecond) // worker-b waits in the lease group; worker-a is mid-transaction

	if err := a.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "worker-b to take the task over", func() bool {
		st, ok := restStatus(bw.url, "src")
		return ok && st.Tasks[0].State == worker.StateRunning && st.Tasks[0].WorkerID == "worker-b"
	})
	from := endOffset(t, b.Addr, s.topic)
	waitFor(t, "worker-b to write", func() bool { return endOffset(t, b.Addr, s.topic) > from })

	before := len(a.out.String())
	if err := a.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// The zombie learns it lost the task one of two ways, both safe: its
	// transaction is fenced by the broker, or its group session is found
	// expired first and it gives the lease up, aborting what it held.
	deadline := time.Now().Add(60 * time.Second)
	for {
		woke := a.out.String()[before:]
		if strings.Contains(woke, "fenced") || strings.Contains(woke, "lease released") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker-a neither found itself fenced nor gave its lease up after waking; it said:\n%s", woke)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // both run on; the zombie must stay out
	close(stop)
	<-done

	waitFor(t, "every line committed", func() bool {
		return len(dedupInOrder(values(readTopic(t, b.Addr, s.topic, true)))) >= len(written)
	})
	// The task runs on one worker, and both workers say which.
	var owner string
	var sa, sb worker.ConnectorStatus
	deadline = time.Now().Add(60 * time.Second)
	for {
		var okA, okB bool
		sa, okA = restStatus(a.url, "src")
		sb, okB = restStatus(bw.url, "src")
		if okA && okB && sa.Tasks[0] == sb.Tasks[0] && sb.Tasks[0].State == worker.StateRunning {
			owner = sb.Tasks[0].WorkerID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the workers do not agree on the task's owner:\nworker-a says %+v\nworker-b says %+v\nworker-a's log after waking:\n%s",
				sa, sb, a.out.String()[before:])
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := values(readTopic(t, b.Addr, s.topic, true))
	all := readTopic(t, b.Addr, s.topic, false)
	if len(got) != len(written) {
		t.Fatalf("read_committed sees %d records for %d lines (%d duplicates)", len(got), len(written), duplicates(got))
	}
	for i := range written {
		if got[i] != written[i] {
			t.Fatalf("record %d is %s, want %s", i, got[i], written[i])
		}
	}
	bw.terminate()
	a.terminate()
	var fenced []string
	for _, l := range strings.Split(a.out.String(), "\n") {
		if strings.Contains(l, "fenced") || strings.Contains(l, "level=ERROR") {
			fenced = append(fenced, l)
		}
	}
	t.Logf("%d lines exactly once; %d records of aborted transactions in the log; the task ends on %s; worker-a said:\n%s",
		len(written), len(all)-len(got), owner, strings.Join(fenced, "\n"))
}
