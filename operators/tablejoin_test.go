package operators_test

import (
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

func TestStreamTableJoin(t *testing.T) {
	for _, left := range []bool{false, true} {
		b := operators.NewBuilder()
		s := operators.StreamOf(b, "pay", operators.String, operators.String)
		tb := operators.TableOf(b, "acct", operators.String, operators.String)
		var j operators.Stream[string, string]
		if left {
			j = operators.LeftJoinTable(s, tb, func(_ string, v string, row *string) string { return v + "/" + opt(row) })
		} else {
			j = operators.JoinTable(s, tb, func(_ string, v, row string) string { return v + "/" + row })
		}
		j.WithSerdes(operators.String, operators.String).To("out")
		d := mustDriver(t, b)
		p := testdriver.Input(d, "pay", operators.String, operators.String)
		a := testdriver.Input(d, "acct", operators.String, operators.String)
		must(t, p.Pipe("c1", "p1", 1))
		must(t, a.Pipe("c1", "alice", 2))
		must(t, p.Pipe("c1", "p2", 3))
		must(t, a.PipeTombstone("c1", 4))
		must(t, p.Pipe("c1", "p3", 5))
		if left {
			expect(t, readStr(t, d, "out"), "c1=p1/nil@1", "c1=p2/alice@3", "c1=p3/nil@5")
		} else {
			expect(t, readStr(t, d, "out"), "c1=p2/alice@3")
		}
	}
}

func TestTableTableJoins(t *testing.T) {
	for _, tc := range []struct {
		kind string
		want []string
	}{
		{"inner", []string{"k=DEL@1", "k=a1+b1@2", "k=a2+b1@3", "k=DEL@4", "k=DEL@5"}},
		{"left", []string{"k=a1+nil@1", "k=a1+b1@2", "k=a2+b1@3", "k=a2+nil@4", "k=DEL@5"}},
		{"outer", []string{"k=a1+nil@1", "k=a1+b1@2", "k=a2+b1@3", "k=a2+nil@4", "k=DEL@5"}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			b := operators.NewBuilder()
			l := operators.TableOf(b, "l", operators.String, operators.String)
			r := operators.TableOf(b, "r", operators.String, operators.String)
			var j operators.Table[string, string]
			switch tc.kind {
			case "inner":
				j = operators.JoinTables(l, r, func(_ string, a, b string) string { return a + "+" + b }, operators.String)
			case "left":
				j = operators.LeftJoinTables(l, r, func(_ string, a string, b *string) string { return a + "+" + opt(b) }, operators.String)
			case "outer":
				j = operators.OuterJoinTables(l, r, func(_ string, a, b *string) string { return opt(a) + "+" + opt(b) }, operators.String)
			}
			j.ToStream().To("out")
			d := mustDriver(t, b)
			li := testdriver.Input(d, "l", operators.String, operators.String)
			ri := testdriver.Input(d, "r", operators.String, operators.String)
			must(t, li.Pipe("k", "a1", 1))
			must(t, ri.Pipe("k", "b1", 2))
			must(t, li.Pipe("k", "a2", 3))
			must(t, ri.PipeTombstone("k", 4))
			must(t, li.PipeTombstone("k", 5))
			expect(t, readStr(t, d, "out"), tc.want...)
		})
	}
}
