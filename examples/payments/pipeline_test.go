package payments_test

import (
	"encoding/json"
	"math"
	"sort"
	"testing"
	"time"

	_ "github.com/sluicehq/sluice/connectors/file"
	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/examples/payments"
	"github.com/sluicehq/sluice/operators"
	"github.com/sluicehq/sluice/pipelines"
	"github.com/sluicehq/sluice/pipelines/compile"
)

func compilePipelines(t *testing.T) map[string]*compile.Compiled {
	t.Helper()
	opts := &pipelines.Options{Env: func(string) (string, bool) { return "", false }}
	ps, diags := pipelines.Parse("pipeline.yaml", payments.PipelineYAML, opts)
	diags = append(diags, pipelines.Check(&pipelines.Set{Pipelines: ps}, opts)...)
	if len(diags) > 0 {
		t.Fatalf("lint: %v", diags)
	}
	out := map[string]*compile.Compiled{}
	for _, p := range ps {
		c, err := compile.Compile(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		out[p.Name] = c
	}
	return out
}

// TestVelocityMatchesBruteForce runs the velocity pipeline through the
// engine's test driver and compares its flags with a brute-force count.
func TestVelocityMatchesBruteForce(t *testing.T) {
	c := compilePipelines(t)["payments-velocity"]
	d, err := testdriver.New(c.Topology, testdriver.Config{ApplicationID: c.AppID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg := payments.DefaultConfig()
	cfg.Payments = 800
	data := payments.Generate(cfg)
	for _, p := range data.Payments {
		if err := d.PipeRaw(payments.PaymentsTopic, []byte(p.CardID), p.JSON(), p.TS.UnixMilli()); err != nil {
			t.Fatal(err)
		}
	}
	got := FlagsOf(t, d.RawOutput(payments.FlaggedTopic))
	want := data.ExpectedFlags(payments.MaxPer5m)
	if len(want) == 0 {
		t.Fatal("the generated data has no card over the limit")
	}
	compareFlags(t, got, want)
}

// FlagsOf decodes flagged records, sorted by card and time.
func FlagsOf(t testing.TB, recs []operators.OutputRecord) []payments.Flag {
	t.Helper()
	var out []payments.Flag
	for _, r := range recs {
		var v struct {
			CardID   string    `json:"card_id"`
			Payments int       `json:"payments"`
			Total    float64   `json:"total"`
			LastAt   time.Time `json:"last_at"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("flag %s: %v", r.Value, err)
		}
		if string(r.Key) != v.CardID {
			t.Fatalf("flag keyed %q for card %q", r.Key, v.CardID)
		}
		out = append(out, payments.Flag{Card: v.CardID, At: v.LastAt, Count: v.Payments, Total: v.Total})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Card != out[j].Card {
			return out[i].Card < out[j].Card
		}
		return out[i].At.Before(out[j].At)
	})
	return out
}

func compareFlags(t *testing.T, got, want []payments.Flag) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d flags, want %d", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		g, w := got[i], want[i]
		if g.Card != w.Card || !g.At.Equal(w.At) || g.Count != w.Count || math.Abs(g.Total-w.Total) > 0.01 {
			t.Errorf("flag %d: got %+v, want %+v", i, g, w)
			return
		}
	}
}
