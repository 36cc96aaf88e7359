package operators_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

func opt[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

func readStr(t *testing.T, d *testdriver.Driver, topic string) []string {
	t.Helper()
	recs, err := testdriver.Output(d, topic, operators.String, operators.String).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Tombstone {
			out = append(out, fmt.Sprintf("%s=DEL@%d", r.Key, r.Timestamp))
		} else {
			out = append(out, fmt.Sprintf("%s=%s@%d", r.Key, r.Value, r.Timestamp))
		}
	}
	return out
}

func streamJoinDriver(t *testing.T, kind string, w operators.JoinWindows) (*testdriver.Driver, *testdriver.InputTopic[string, string], *testdriver.InputTopic[string, string]) {
	b := operators.NewBuilder()
	l := operators.StreamOf(b, "l", operators.String, operators.String)
	r := operators.StreamOf(b, "r", operators.String, operators.String)
	var j operators.Stream[string, string]
	switch kind {
	case "inner":
		j = operators.Join(l, r, func(_ string, a, b string) string { return a + "+" + b }, w)
	case "left":
		j = operators.LeftJoin(l, r, func(_ string, a string, b *string) string { return a + "+" + opt(b) }, w)
	case "outer":
		j = operators.OuterJoin(l, r, func(_ string, a, b *string) string { return opt(a) + "+" + opt(b) }, w)
	}
	j.WithSerdes(operators.String, operators.String).To("out")
	d := mustDriver(t, b)
	return d, testdriver.Input(d, "l", operators.String, operators.String), testdriver.Input(d, "r", operators.String, operators.String)
}

func TestStreamStreamJoins(t *testing.T) {
	w := operators.JoinWindow(10 * time.Millisecond).Grace(5 * time.Millisecond)
	for _, tc := range []struct {
		kind string
		want []string
	}{
		{"inner", []string{"k=a1+b1@12", "k=a2+b1@20", "k=a2+b2@30", "k=a3+b2@40"}},
		{"left", []string{"k=a1+b1@12", "k=a2+b1@20", "k=a2+b2@30", "k=a3+b2@40", "k=a4+nil@60"}},
		{"outer", []string{"k=a1+b1@12", "k=a2+b1@20", "k=a2+b2@30", "k=a3+b2@40", "k=a4+nil@60", "x=nil+tick@100"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			d, l, r := streamJoinDriver(t, tc.kind, w)
			must(t, l.Pipe("k", "a1", 5))
			must(t, r.Pipe("k", "b1", 12))
			must(t, l.Pipe("k", "a2", 20))
			must(t, r.Pipe("k", "b2", 30))    // a2 at 20 is exactly 10ms away
			must(t, l.Pipe("k", "a3", 40))    // matches b2 at 30
			must(t, l.Pipe("k", "late", 2))   // 2+10+5 < 40: dropped
			must(t, l.Pipe("k", "a4", 60))    // no partner: held
			must(t, r.Pipe("k", "b0", 44))    // 44+10+5 < 60: dropped, so a4 stays unmatched
			must(t, r.Pipe("x", "tick", 100)) // closes a4's window (60+10+5 < 100)
			must(t, r.Pipe("y", "tock", 200)) // closes tick's window
			got := readStr(t, d, "out")
			expect(t, got, tc.want...)
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
