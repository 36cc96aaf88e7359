package compile

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/pipelines"
)

// build lints a pipeline written inline and compiles it; it fails the test
// on any diagnostic.
func build(t testing.TB, yaml string) *Compiled {
	t.Helper()
	opts := &pipelines.Options{Env: func(string) (string, bool) { return "", false }}
	ps, diags := pipelines.Parse("test.yaml", []byte(yaml), opts)
	diags = append(diags, pipelines.Check(&pipelines.Set{Pipelines: ps}, opts)...)
	if len(diags) > 0 {
		var b strings.Builder
		for _, d := range diags {
			b.WriteString(d.String() + "\n")
		}
		t.Fatalf("lint:\n%s", b.String())
	}
	c, err := Compile(ps[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// harness runs a compiled pipeline in the engine's test driver.
type harness struct {
	t testing.TB
	d *testdriver.Driver
}

func drive(t testing.TB, c *Compiled) *harness {
	t.Helper()
	d, err := testdriver.New(c.Topology, testdriver.Config{ApplicationID: c.AppID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &harness{t: t, d: d}
}

// pipe sends a JSON record with a key and a timestamp in milliseconds.
func (h *harness) pipe(topic, key, value string, ts int64) {
	h.t.Helper()
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	var v []byte
	if value != "" {
		v = []byte(value)
	}
	if err := h.d.PipeRaw(topic, k, v, ts); err != nil {
		h.t.Fatalf("pipe %s %s: %v", topic, value, err)
	}
}

// out returns "key value" lines written to topic, values as compact JSON.
func (h *harness) out(topic string) []string {
	var lines []string
	for _, r := range h.d.RawOutput(topic) {
		if r.Value == nil {
			lines = append(lines, string(r.Key)+" <tombstone>")
			continue
		}
		var v any
		if err := json.Unmarshal(r.Value, &v); err != nil {
			h.t.Fatalf("output %s is not JSON: %s", topic, r.Value)
		}
		lines = append(lines, string(r.Key)+" "+string(r.Value))
	}
	return lines
}

func equalLines(t testing.TB, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
