package broker_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/brokertest"
)

// TestServeYAMLConfigAndMetrics: settings from a YAML config file apply
// (num.partitions for auto-created topics), and --metrics-listen serves
// Prometheus metrics.
func TestServeYAMLConfigAndMetrics(t *testing.T) {
	metrics := brokertest.FreePort(t)
	cfg := writeConfig(t, "num.partitions: 3\nlog:\n  retention.ms: 60000\n")
	yamlPath := strings.TrimSuffix(cfg, ".properties") + ".yaml"
	if err := os.Rename(cfg, yamlPath); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, "--config", yamlPath, "--metrics-listen", metrics)
	cl := newClient(t, b.Addr, kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	topics, err := newAdmin(t, b.Addr).ListTopics(testCtx(t), "auto")
	if err != nil || len(topics["auto"].Partitions) != 3 {
		t.Fatalf("auto-created topic: %v %v (want 3 partitions from num.partitions)", topics, err)
	}
	rc, err := newAdmin(t, b.Addr).DescribeTopicConfigs(testCtx(t), "auto")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && (c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceStaticBrokerConfig) {
			t.Fatalf("retention.ms = %q from %v, want 60000 from the broker config", c.MaybeValue(), c.Source)
		}
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"sluice_broker_request_duration_seconds_count{api=\"Produce\"}", "sluice_broker_produced_records_total 1", "sluice_storage_"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Fatalf("metrics lack %q", want)
		}
	}
}

// TestServeRejectsBadConfig: a bad setting stops startup with one clear
// error naming the key, and a non-zero exit.
func TestServeRejectsBadConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts sluice serve")
	}
	cfg := writeConfig(t, "num.partitions=many\n")
	cmd := exec.Command(brokertest.Binary(t), "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--config", cfg)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve accepted num.partitions=many:\n%s", out)
	}
	if !strings.Contains(string(out), `"num.partitions"`) || !strings.Contains(string(out), "many") {
		t.Fatalf("error does not name the setting and value:\n%s", out)
	}
	cfg = writeConfig(t, "no.such.setting=1\n")
	out, err = exec.Command(brokertest.Binary(t), "serve", "--data-dir", t.TempDir(), "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no.such.setting") {
		t.Fatalf("unknown setting: %v\n%s", err, out)
	}
}

// TestMaxConnections: connections beyond max.connections are closed at once
// with a log line; the ones within the limit keep working.
func TestMaxConnections(t *testing.T) {
	b := startBroker(t, "--config", writeConfig(t, "max.connections=2\n"))
	// Open two working connections (retrying while the harness's
	// readiness probe may still count against the limit).
	var live []*rawConn
	deadline := time.Now().Add(10 * time.Second)
	for len(live) < 2 {
		if c, ok := tryConn(t, b.Addr); ok {
			live = append(live, c)
		} else if time.Now().After(deadline) {
			t.Fatal("could not open two connections under max.connections=2")
		}
	}
	if _, ok := tryConn(t, b.Addr); ok {
		t.Fatal("a third connection was served with max.connections=2")
	}
	for _, c := range live {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		if r := c.request(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
			t.Fatalf("api versions on a connection within the limit: %d", r.ErrorCode)
		}
	}
	if !strings.Contains(b.Output(), "too many connections") {
		t.Fatalf("missing log line:\n%s", b.Output())
	}
}

// TestIdleTimeout: a connection with no requests for
// connections.max.idle.ms is closed with a log line.
func TestIdleTimeout(t *testing.T) {
	b := startBroker(t, "--config", writeConfig(t, "connections.max.idle.ms=500\n"))
	c, ok := tryConn(t, b.Addr)
	if !ok {
		t.Fatal("connection not served")
	}
	c.expectClosed()
	waitFor(t, "the idle log line", func() bool { return strings.Contains(b.Output(), "closing idle connection") })
}

// tryConn dials and does one ApiVersions round trip; it reports whether the
// broker served the connection.
func tryConn(t *testing.T, addr string) (*rawConn, bool) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	_, _ = nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(nc, sz[:]); err != nil {
		nc.Close()
		time.Sleep(50 * time.Millisecond)
		return nil, false
	}
	body := make([]byte, int(sz[0])<<24|int(sz[1])<<16|int(sz[2])<<8|int(sz[3]))
	if _, err := io.ReadFull(nc, body); err != nil {
		return nil, false
	}
	_ = nc.SetReadDeadline(time.Time{})
	return &rawConn{t: t, nc: nc, corr: 1}, true
}
