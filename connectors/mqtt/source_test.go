package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluicehq/sluice/connectors"
)

func TestTemplate(t *testing.T) {
	for _, tc := range []struct{ tmpl, topic, want string }{
		{"iot.{mqtt.topic.0}", "sensors/dev-1/temp", "iot.sensors"},
		{"{mqtt.topic}", "sensors/dev-1/temp", "sensors/dev-1/temp"},
		{"{mqtt.topic.1}-{mqtt.topic.2}", "a/b/c", "b-c"},
		{"x{mqtt.topic.5}y", "a/b", "xy"},
		{"fixed", "a/b", "fixed"},
	} {
		tm, err := parseTemplate(tc.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tc.tmpl, err)
		}
		if got := tm.render(tc.topic); got != tc.want {
			t.Errorf("%q on %q = %q; want %q", tc.tmpl, tc.topic, got, tc.want)
		}
	}
	for _, bad := range []string{"{mqtt.topic", "{nope}", "{mqtt.topic.x}", "{mqtt.topic.-1}"} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if got := kafkaTopicName("a/b c+#"); got != "a.b_c__" {
		t.Errorf("kafkaTopicName = %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := Spec.Parse(map[string]string{KeyBrokers: "tcp://127.0.0.1:1", KeyTopics: "a/#", KeyKafkaTopic: "{bad}", KeyQoS: "3"})
	if err == nil || !strings.Contains(err.Error(), KeyKafkaTopic) || !strings.Contains(err.Error(), KeyQoS) {
		t.Fatalf("err = %v; want errors naming %s and %s", err, KeyKafkaTopic, KeyQoS)
	}
}

// mosquitto runs a real Mosquitto broker on a free 127.0.0.1 port.
type mosquitto struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
}

func startMosquitto(t *testing.T) *mosquitto { return startMosquittoWith(t, "") }

// startMosquittoWith adds listener settings (TLS) to the config.
func startMosquittoWith(t *testing.T, listenerConf string) *mosquitto {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts mosquitto")
	}
	bin := "/usr/sbin/mosquitto"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("mosquitto"); err != nil {
			t.Skip("mosquitto not installed (Debian package mosquitto); skipping MQTT integration test")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Default max_inflight_messages (20): the source must keep acking to
	// keep receiving, as in production.
	body := fmt.Sprintf("listener %d 127.0.0.1\n%sallow_anonymous true\npersistence false\nmax_queued_messages 100000\nlog_dest stderr\n", port, listenerConf)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{addr: fmt.Sprintf("127.0.0.1:%d", port), out: &strings.Builder{}, done: make(chan struct{})}
	m.cmd = exec.Command(bin, "-c", conf)
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return m.out.Write(p) })
	m.cmd.Stdout, m.cmd.Stderr = w, w
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	go func() { _ = m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		_ = m.cmd.Process.Kill()
		<-m.done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.addr, time.Second)
		if err == nil {
			c.Close()
			return m
		}
		select {
		case <-m.done:
			t.Fatalf("mosquitto exited:\n%s", m.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto not listening on %s", m.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func publisher(t *testing.T, addr string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("test-publisher").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c paho.Client, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		tok := c.Publish(fmt.Sprintf("sensors/dev-%d/temp", i%5), 1, false, fmt.Sprintf(`{"n":%d}`, i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
}

func openSource(t *testing.T, addr string) *Source {
	t.Helper()
	cfg, err := Spec.Parse(map[string]string{
		KeyBrokers:    "tcp://" + addr,
		KeyTopics:     "sensors/+/temp",
		KeyClientID:   "sluice-test-source",
		KeyKafkaTopic: "iot.{mqtt.topic.0}",
		KeyPollWait:   "200ms",
		KeyBatchSize:  "7",
	})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSource()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := s.Open(context.Background(), connectors.TaskInfo{Connector: "m", Logger: logger}, cfg, nil); err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func payloadN(t *testing.T, r connectors.Record) int {
	t.Helper()
	var v struct{ N int }
	if err := json.Unmarshal(r.Value, &v); err != nil {
		t.Fatalf("payload %q: %v", r.Value, err)
	}
	return v.N
}

// drain polls until quiet (no record for two polls in a row), committing
// each batch while commitWhile(received so far) holds.
func drain(t *testing.T, s *Source, commitWhile func(n int) bool, until func(seen map[int]int) bool) (committed, uncommitted []int) {
	t.Helper()
	ctx := context.Background()
	seen := map[int]int{}
	quiet := 0
	deadline := time.Now().Add(30 * time.Second)
	for quiet < 2 || (until != nil && !until(seen)) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: received %d records", len(committed)+len(uncommitted))
		}
		recs, err := s.Poll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			quiet++
			continue
		}
		quiet = 0
		var ns []int
		for _, r := range recs {
			n := payloadN(t, r)
			seen[n]++
			ns = append(ns, n)
			wantKey := fmt.Sprintf("sensors/dev-%d/temp", n%5)
			if r.Topic != "iot.sensors" || string(r.Key) != wantKey {
				t.Fatalf("record topic %q key %q; want iot.sensors, %s", r.Topic, r.Key, wantKey)
			}
			if h, _ := r.Header(HeaderTopic); string(h) != wantKey {
				t.Fatalf("header %s = %q", HeaderTopic, h)
			}
		}
		if commitWhile(len(committed)) {
			if err := s.Commit(ctx, []connectors.Position{recs[len(recs)-1].Position}); err != nil {
				t.Fatal(err)
			}
			committed = append(committed, ns...)
		} else {
			uncommitted = append(uncommitted, ns...)
		}
	}
	return committed, uncommitted
}

// TestSourceAgainstMosquitto: messages are acknowledged only when committed;
// after a restart of the source, the broker redelivers exactly the
// unacknowledged ones plus those published while the source was down, and
// nothing acknowledged comes back.
func TestSourceAgainstMosquitto(t *testing.T) {
	m := startMosquitto(t)
	pub := publisher(t, m.addr)

	a := openSource(t, m.addr)
	publish(t, pub, 0, 100)
	committedA, unackedA := drain(t, a, func(n int) bool { return n < 60 }, nil)
	if len(committedA) < 60 || len(unackedA) == 0 {
		t.Fatalf("first run: %d committed, %d unacknowledged; want >= 60 and > 0", len(committedA), len(unackedA))
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Published while no source is connected: the session queues them.
	publish(t, pub, 100, 150)

	b := openSource(t, m.addr)
	acked := map[int]bool{}
	for _, n := range committedA {
		acked[n] = true
	}
	committedB, _ := drain(t, b, func(int) bool { return true }, func(seen map[int]int) bool {
		for n := 0; n < 150; n++ {
			if !acked[n] && seen[n] == 0 {
				return false
			}
		}
		return true
	})
	for _, n := range committedB {
		if acked[n] {
			t.Errorf("message %d was acknowledged in the first run but delivered again", n)
		}
		acked[n] = true
	}
	for n := 0; n < 150; n++ {
		if !acked[n] {
			t.Errorf("message %d lost", n)
		}
	}
	for _, n := range unackedA {
		found := false
		for _, k := range committedB {
			found = found || k == n
		}
		if !found {
			t.Errorf("unacknowledged message %d was not redelivered", n)
		}
	}
	b.Close(context.Background())

	// Everything is acknowledged now: a third run receives nothing.
	c := openSource(t, m.addr)
	defer c.Close(context.Background())
	if again, rest := drain(t, c, func(int) bool { return true }, nil); len(again)+len(rest) != 0 {
		t.Fatalf("third run received %d messages; want none", len(again)+len(rest))
	}
}

func TestOpenFailsRetriablyWithoutBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg, _ := Spec.Parse(map[string]string{KeyBrokers: "tcp://" + addr, KeyTopics: "a/#", KeyKafkaTopic: "t", KeyConnectTimeout: "2s"})
	s := NewSource()
	err = s.Open(context.Background(), connectors.TaskInfo{Connector: "m"}, cfg, nil)
	defer s.Close(context.Background())
	if err == nil || !connectors.IsRetriable(err) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Open = %v; want a retriable error naming %s", err, addr)
	}
}
