package operators_test

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

// account is a row of the accounts table: "region:balance".
func parseAccount(v string) (string, int64) {
	region, bal, _ := strings.Cut(v, ":")
	var n int64
	fmt.Sscan(bal, &n)
	return region, n
}

func regionTopology(t *testing.T) *operators.Builder {
	b := operators.NewBuilder()
	accounts := operators.TableOf(b, "accounts", operators.String, operators.String)
	byRegion := operators.GroupTableBy(accounts, func(_ string, v string) (string, int64) {
		return parseAccount(v)
	}, operators.String, operators.Int64, operators.Named("by-region"))
	byRegion.Count(operators.Materialized("region-counts")).ToStream().To("counts")
	operators.AggregateTable(byRegion, func() int64 { return 0 },
		func(_ string, bal, sum int64) int64 { return sum + bal },
		func(_ string, bal, sum int64) int64 { return sum - bal },
		operators.Int64, operators.Materialized("region-balances")).ToStream().To("balances")
	byRegion.Reduce(func(a, v int64) int64 { return a + v }, func(a, v int64) int64 { return a - v },
		operators.Materialized("region-reduce")).ToStream().To("reduced")
	return b
}

func lastPerKey(t *testing.T, d *testdriver.Driver, topic string) map[string]int64 {
	t.Helper()
	recs, err := testdriver.Output(d, topic, operators.String, operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range recs {
		out[r.Key] = r.Value
	}
	return out
}

func TestGroupTableByMovesRows(t *testing.T) {
	d := mustDriver(t, regionTopology(t))
	in := testdriver.Input(d, "accounts", operators.String, operators.String)
	must(t, in.Pipe("ann", "eu:100", 1))
	must(t, in.Pipe("bob", "eu:50", 2))
	must(t, in.Pipe("cid", "us:70", 3))
	must(t, in.Pipe("bob", "us:60", 4))  // bob moves: out of eu, into us
	must(t, in.Pipe("ann", "eu:120", 5)) // a change within the group
	must(t, in.PipeTombstone("cid", 6))  // cid leaves
	// The eu count along the way: ann in, bob in, bob out, ann out and
	// in again; and the last count per region.
	recs, err := testdriver.Output(d, "counts", operators.String, operators.Int64).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var eu []string
	counts := map[string]int64{}
	for _, r := range recs {
		counts[r.Key] = r.Value
		if r.Key == "eu" {
			eu = append(eu, fmt.Sprint(r.Value))
		}
	}
	if counts["eu"] != 1 || counts["us"] != 1 {
		t.Fatalf("counts = %v, want eu=1 us=1", counts)
	}
	sums := lastPerKey(t, d, "balances")
	if sums["eu"] != 120 || sums["us"] != 60 {
		t.Fatalf("balances = %v, want eu=120 us=60", sums)
	}
	if red := lastPerKey(t, d, "reduced"); red["eu"] != 120 || red["us"] != 60 {
		t.Fatalf("reduced = %v, want eu=120 us=60", red)
	}
	expect(t, eu, "1", "2", "1", "0", "1")
}

// TestDifferentialGroupTableBy: random upserts, moves and deletes of rows,
// compared with the aggregates computed from the final table.
func TestDifferentialGroupTableBy(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		b := operators.NewBuilder()
		tbl := operators.TableOf(b, "rows", operators.String, operators.String)
		g := operators.GroupTableBy(tbl, func(_ string, v string) (string, int64) { return parseAccount(v) }, operators.String, operators.Int64)
		g.Count().ToStream().To("counts")
		operators.AggregateTable(g, func() int64 { return 0 },
			func(_ string, v, s int64) int64 { return s + v },
			func(_ string, v, s int64) int64 { return s - v }, operators.Int64).ToStream().To("sums")
		cache := []int{0, 2, 1000}[seed%3]
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		d, err := testdriver.New(topo, testdriver.Config{CacheMaxEntries: cache})
		if err != nil {
			t.Fatal(err)
		}
		in := testdriver.Input(d, "rows", operators.String, operators.String)
		table := map[string]string{}
		for i := 0; i < 60; i++ {
			k := fmt.Sprint("row-", r.Intn(8))
			if r.Intn(5) == 0 {
				must(t, in.PipeTombstone(k, int64(i)))
				delete(table, k)
				continue
			}
			v := fmt.Sprintf("g%d:%d", r.Intn(3), r.Intn(100))
			must(t, in.Pipe(k, v, int64(i)))
			table[k] = v
		}
		wantCount, wantSum := map[string]int64{}, map[string]int64{}
		for _, v := range table {
			g, n := parseAccount(v)
			wantCount[g]++
			wantSum[g] += n
		}
		gotCount, gotSum := lastPerKey(t, d, "counts"), lastPerKey(t, d, "sums")
		for g, n := range gotCount {
			if n != wantCount[g] || gotSum[g] != wantSum[g] {
				t.Fatalf("seed %d: group %s count %d sum %d, want %d %d (table %v)", seed, g, n, gotSum[g], wantCount[g], wantSum[g], sorted(table))
			}
		}
		for g := range wantCount {
			if _, ok := gotCount[g]; !ok {
				t.Fatalf("seed %d: group %s missing", seed, g)
			}
		}
		d.Close()
	}
}

func sorted(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
