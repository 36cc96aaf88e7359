package operators_test

import (
	"fmt"
	"maps"
	"math/rand"
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

type order struct {
	Customer string `json:"customer"`
	Item     string `json:"item"`
}

// The foreign-key join's table always equals the brute-force join of the
// current input tables, under random upserts, foreign-key changes and
// deletes on both sides.
func TestDifferentialForeignKeyJoin(t *testing.T) {
	for seed := 0; seed < seeds(t)/3; seed++ {
		left := seed%2 == 1
		r := rand.New(rand.NewSource(int64(seed)))
		b := operators.NewBuilder()
		orders := operators.TableOf(b, "orders", operators.String, operators.JSON[order]())
		customers := operators.TableOf(b, "customers", operators.String, operators.String)
		var joined operators.Table[string, string]
		if left {
			joined = operators.LeftJoinForeignKey(orders, customers, func(o order) string { return o.Customer },
				func(_ string, o order, c *string) string { return o.Item + "@" + opt(c) }, operators.String, operators.Materialized("joined"))
		} else {
			joined = operators.JoinForeignKey(orders, customers, func(o order) string { return o.Customer },
				func(_ string, o order, c string) string { return o.Item + "@" + c }, operators.String, operators.Materialized("joined"))
		}
		joined.ToStream().To("out")
		d := mustDriver(t, b)
		oin := testdriver.Input(d, "orders", operators.String, operators.JSON[order]())
		cin := testdriver.Input(d, "customers", operators.String, operators.String)
		O, C := map[string]order{}, map[string]string{}
		kv, err := joined.Store().FromTask(d.TaskWithStore("joined"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 150; i++ {
			ts := int64(i)
			if r.Intn(2) == 0 {
				k := fmt.Sprintf("o%d", r.Intn(6))
				if r.Intn(5) == 0 {
					must(t, oin.PipeTombstone(k, ts))
					delete(O, k)
				} else {
					o := order{Customer: fmt.Sprintf("c%d", r.Intn(4)), Item: fmt.Sprint("item", i)}
					must(t, oin.Pipe(k, o, ts))
					O[k] = o
				}
			} else {
				k := fmt.Sprintf("c%d", r.Intn(4))
				if r.Intn(4) == 0 {
					must(t, cin.PipeTombstone(k, ts))
					delete(C, k)
				} else {
					v := fmt.Sprint("name", i)
					must(t, cin.Pipe(k, v, ts))
					C[k] = v
				}
			}
			want := map[string]string{}
			for k, o := range O {
				if c, ok := C[o.Customer]; ok {
					want[k] = o.Item + "@" + c
				} else if left {
					want[k] = o.Item + "@nil"
				}
			}
			got := map[string]string{}
			must(t, kv.All(func(k, v string) bool { got[k] = v; return true }))
			if !maps.Equal(got, want) {
				t.Fatalf("seed %d left=%v step %d:\n got %v\nwant %v", seed, left, i, got, want)
			}
		}
	}
}
