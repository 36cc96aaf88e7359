package operators_test

// Differential tests: each windowed aggregation and join runs through the
// test driver on random, out-of-order input and is compared, output for
// output, with a brute-force model of the documented semantics that keeps
// every record in plain slices.

import (
	"cmp"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine/state"
	"github.com/sluicehq/sluice/engine/testdriver"
	"github.com/sluicehq/sluice/operators"
)

type ev struct {
	key  string
	ts   int64
	left bool // for joins: which input
	id   int
}

// genEvents makes disordered input: a clock that mostly creeps forward,
// records that lag behind it, and occasional jumps that close windows.
func genEvents(r *rand.Rand, n int) []ev {
	var out []ev
	clock := int64(r.Intn(20))
	for i := 0; i < n; i++ {
		clock += int64(r.Intn(6))
		if r.Intn(40) == 0 {
			clock += int64(50 + r.Intn(100))
		}
		ts := clock
		if r.Intn(3) == 0 {
			ts -= int64(r.Intn(40))
		}
		if ts < 0 {
			ts = 0
		}
		out = append(out, ev{key: string(rune('a' + r.Intn(3))), ts: ts, left: r.Intn(2) == 0, id: i})
	}
	return out
}

// seeds is the number of random rounds per differential test: 300 by
// default (a few CPU seconds for the package), 40 with -short, or
// SLUICE_DIFF_SEEDS for a deeper run (SLUICE_DIFF_SEEDS=5000 go test
// -run Differential ./operators/).
func seeds(t *testing.T) int {
	if s := os.Getenv("SLUICE_DIFF_SEEDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SLUICE_DIFF_SEEDS=%q: want a positive number", s)
		}
		return n
	}
	if testing.Short() {
		return 40
	}
	return 300
}

func countDriver(t *testing.T, w operators.Windows, final bool, cacheSize int) *testdriver.Driver {
	b := operators.NewBuilder()
	s := operators.StreamOf(b, "in", operators.String, operators.Int64)
	var opts []operators.Option
	if final {
		opts = append(opts, operators.EmitOnClose())
	}
	operators.CountWindowed(s.GroupByKey().WindowedBy(w), opts...).ToStream().To("out")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testdriver.Config{CacheMaxEntries: cacheSize}
	if cacheSize == 3 {
		// Some rounds run on Pebble stores instead of memory.
		dir := t.TempDir()
		cfg.OpenStore = func(spec state.Spec) (state.KeyValueStore, error) {
			return state.OpenPebble(spec.Name, filepath.Join(dir, spec.Name), state.PebbleOptions{})
		}
	}
	d, err := testdriver.New(topo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func runCount(t *testing.T, d *testdriver.Driver, evs []ev) []string {
	in := testdriver.Input(d, "in", operators.String, operators.Int64)
	for _, e := range evs {
		if err := in.Pipe(e.key, 1, e.ts); err != nil {
			t.Fatal(err)
		}
	}
	return readWin(t, d, "out")
}

type wkey struct {
	key        string
	start, end int64
}

// oracleTime models tumbling and hopping window counts.
func oracleTime(evs []ev, size, advance, grace int64, final bool) []string {
	counts := map[wkey]int64{}
	var out []string
	observed := int64(-1 << 62)
	pending := map[wkey]bool{}
	for _, e := range evs {
		observed = max(observed, e.ts)
		closeTime := observed - grace
		for start := e.ts - e.ts%advance - (size/advance)*advance; start <= e.ts; start += advance {
			if start < 0 || start+size <= e.ts {
				continue
			}
			end := start + size
			if end <= closeTime {
				continue
			}
			k := wkey{e.key, start, end}
			counts[k]++
			if final {
				pending[k] = true
			} else {
				out = append(out, winOut{e.key, start, end, counts[k], false}.String())
			}
		}
		if final {
			var due []wkey
			for k := range pending {
				if k.end <= closeTime {
					due = append(due, k)
				}
			}
			slices.SortFunc(due, func(a, b wkey) int {
				return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.key, b.key), cmp.Compare(a.start, b.start))
			})
			for _, k := range due {
				delete(pending, k)
				out = append(out, winOut{k.key, k.start, k.end, counts[k], false}.String())
			}
		}
	}
	return out
}

func TestDifferentialTimeWindows(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		size := int64(5 + r.Intn(40))
		advance := size
		if r.Intn(2) == 0 {
			advance = int64(1 + r.Intn(int(size)))
		}
		grace := int64(r.Intn(30))
		final := r.Intn(2) == 0
		cache := []int{0, 1, 3}[r.Intn(3)]
		evs := genEvents(r, 150)
		w := operators.Hopping(time.Duration(size)*time.Millisecond, time.Duration(advance)*time.Millisecond).Grace(time.Duration(grace) * time.Millisecond)
		got := runCount(t, countDriver(t, w, final, cache), evs)
		want := oracleTime(evs, size, advance, grace, final)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d size=%d advance=%d grace=%d final=%v:\n got %v\nwant %v", seed, size, advance, grace, final, got, want)
		}
	}
}

// oracleSliding models sliding windows: a window [ts-size, ts] per record.
func oracleSliding(evs []ev, size, grace int64, final bool) []string {
	type rec struct {
		key string
		ts  int64
	}
	var recs []rec
	wins := map[wkey]int64{}
	var out []string
	observed := int64(-1 << 62)
	pending := map[wkey]bool{}
	emit := func(k wkey) {
		if final {
			pending[k] = true
		} else {
			out = append(out, winOut{k.key, k.start, k.end, wins[k], false}.String())
		}
	}
	for _, e := range evs {
		observed = max(observed, e.ts)
		closeTime := observed - grace
		if e.ts >= closeTime {
			recs = append(recs, rec{e.key, e.ts})
			var existing []wkey
			for k := range wins {
				if k.key == e.key && k.end >= e.ts && k.end <= e.ts+size {
					existing = append(existing, k)
				}
			}
			slices.SortFunc(existing, func(a, b wkey) int { return cmp.Compare(a.start, b.start) })
			own := false
			for _, k := range existing {
				own = own || k.end == e.ts
				wins[k]++
				emit(k)
			}
			if !own {
				k := wkey{e.key, e.ts - size, e.ts}
				for _, x := range recs {
					if x.key == e.key && x.ts >= e.ts-size && x.ts <= e.ts {
						wins[k]++
					}
				}
				emit(k)
			}
		}
		if final {
			var due []wkey
			for k := range pending {
				if k.end+1 <= closeTime {
					due = append(due, k)
				}
			}
			slices.SortFunc(due, func(a, b wkey) int {
				return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.key, b.key), cmp.Compare(a.start, b.start))
			})
			for _, k := range due {
				delete(pending, k)
				out = append(out, winOut{k.key, k.start, k.end, wins[k], false}.String())
			}
		}
	}
	return out
}

func TestDifferentialSlidingWindows(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		size := int64(3 + r.Intn(40))
		grace := int64(r.Intn(30))
		final := r.Intn(2) == 0
		evs := genEvents(r, 150)
		w := operators.Sliding(time.Duration(size) * time.Millisecond).Grace(time.Duration(grace) * time.Millisecond)
		got := runCount(t, countDriver(t, w, final, 2), evs)
		want := oracleSliding(evs, size, grace, final)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d size=%d grace=%d final=%v:\n got %v\nwant %v", seed, size, grace, final, got, want)
		}
	}
}

// oracleSession models session windows with merging.
func oracleSession(evs []ev, gap, grace int64, final bool) []string {
	type sess struct {
		key        string
		start, end int64
		n          int64
	}
	var sessions []sess
	var out []string
	observed := int64(-1 << 62)
	pending := map[wkey]bool{}
	for _, e := range evs {
		observed = max(observed, e.ts)
		closeTime := observed - grace
		retention := gap + grace
		var found []sess
		start, end := e.ts, e.ts
		for _, s := range sessions {
			if s.key == e.key && s.end >= e.ts-gap && s.end >= observed-retention && s.start <= e.ts+gap {
				found = append(found, s)
				start, end = min(start, s.start), max(end, s.end)
			}
		}
		if end >= closeTime {
			slices.SortFunc(found, func(a, b sess) int { return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.start, b.start)) })
			n := int64(1)
			for _, s := range found {
				n += s.n
				sessions = slices.DeleteFunc(sessions, func(x sess) bool { return x == s })
				if s.start == start && s.end == end {
					continue
				}
				if !final {
					out = append(out, winOut{e.key, s.start, s.end, 0, true}.String())
				}
				delete(pending, wkey{e.key, s.start, s.end})
			}
			sessions = append(sessions, sess{e.key, start, end, n})
			if final {
				pending[wkey{e.key, start, end}] = true
			} else {
				out = append(out, winOut{e.key, start, end, n, false}.String())
			}
		}
		if final {
			var due []wkey
			for k := range pending {
				if k.end+1 <= closeTime {
					due = append(due, k)
				}
			}
			slices.SortFunc(due, func(a, b wkey) int {
				return cmp.Or(cmp.Compare(a.end, b.end), cmp.Compare(a.key, b.key), cmp.Compare(a.start, b.start))
			})
			for _, k := range due {
				delete(pending, k)
				for _, s := range sessions {
					if s.key == k.key && s.start == k.start && s.end == k.end {
						out = append(out, winOut{k.key, k.start, k.end, s.n, false}.String())
					}
				}
			}
		}
	}
	return out
}

func TestDifferentialSessionWindows(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		gap := int64(1 + r.Intn(25))
		grace := int64(r.Intn(30))
		final := r.Intn(2) == 0
		evs := genEvents(r, 150)
		w := operators.Session(time.Duration(gap) * time.Millisecond).Grace(time.Duration(grace) * time.Millisecond)
		got := runCount(t, countDriver(t, w, final, 2), evs)
		want := oracleSession(evs, gap, grace, final)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d gap=%d grace=%d final=%v:\n got %v\nwant %v", seed, gap, grace, final, got, want)
		}
	}
}

// oracleJoin models stream–stream joins, including when unmatched records
// of left and outer joins are emitted.
func oracleJoin(evs []ev, kind string, before, after, grace int64) []string {
	type buf struct {
		ev
		seq int
	}
	var lefts, rights, held []buf
	var out []string
	observed := int64(-1 << 62)
	seq := 0
	name := func(e ev) string { return fmt.Sprintf("%s%d", map[bool]string{true: "L", false: "R"}[e.left], e.id) }
	for _, e := range evs {
		observed = max(observed, e.ts)
		look := after
		if !e.left {
			look = before
		}
		if e.ts+look+grace >= observed {
			seq++
			me := buf{e, seq}
			// A left record at t matches rights in [t-before, t+after];
			// a right record at t matches lefts in [t-after, t+before].
			others, lo, hi := rights, e.ts-before, e.ts+after
			if !e.left {
				others, lo, hi = lefts, e.ts-after, e.ts+before
			}
			var matches []buf
			for _, o := range others {
				if o.key == e.key && o.ts >= lo && o.ts <= hi {
					matches = append(matches, o)
				}
			}
			slices.SortFunc(matches, func(a, b buf) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.seq, b.seq)) })
			for _, o := range matches {
				l, r := e, o.ev
				if !e.left {
					l, r = o.ev, e
				}
				out = append(out, fmt.Sprintf("%s=%s+%s@%d", e.key, name(l), name(r), max(l.ts, r.ts)))
			}
			if e.left {
				lefts = append(lefts, me)
			} else {
				rights = append(rights, me)
			}
			if kind != "inner" {
				if len(matches) > 0 {
					// The matched records of the other side stop waiting.
					held = slices.DeleteFunc(held, func(h buf) bool {
						for _, m := range matches {
							if h.seq == m.seq {
								return true
							}
						}
						return false
					})
				} else if e.left || kind == "outer" {
					held = append(held, me)
				}
			}
		}
		if kind != "inner" {
			var due []buf
			held = slices.DeleteFunc(held, func(h buf) bool {
				l := after
				if !h.left {
					l = before
				}
				if h.ts+l+grace < observed {
					due = append(due, h)
					return true
				}
				return false
			})
			slices.SortFunc(due, func(a, b buf) int { return cmp.Or(cmp.Compare(a.ts, b.ts), cmp.Compare(a.seq, b.seq)) })
			for _, h := range due {
				if h.left {
					out = append(out, fmt.Sprintf("%s=%s+nil@%d", h.key, name(h.ev), h.ts))
				} else {
					out = append(out, fmt.Sprintf("%s=nil+%s@%d", h.key, name(h.ev), h.ts))
				}
			}
		}
	}
	return out
}

func TestDifferentialStreamJoins(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		before, after := int64(r.Intn(20)), int64(r.Intn(20))
		grace := int64(r.Intn(30))
		kind := []string{"inner", "left", "outer"}[seed%3]
		evs := genEvents(r, 120)
		w := operators.JoinWindow(0).Before(time.Duration(before) * time.Millisecond).After(time.Duration(after) * time.Millisecond).Grace(time.Duration(grace) * time.Millisecond)
		d, l, rr := streamJoinDriver(t, kind, w)
		for _, e := range evs {
			name := fmt.Sprintf("%s%d", map[bool]string{true: "L", false: "R"}[e.left], e.id)
			var err error
			if e.left {
				err = l.Pipe(e.key, name, e.ts)
			} else {
				err = rr.Pipe(e.key, name, e.ts)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		got := readStr(t, d, "out")
		want := oracleJoin(evs, kind, before, after, grace)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d %s before=%d after=%d grace=%d:\n got %v\nwant %v", seed, kind, before, after, grace, got, want)
		}
	}
}

func TestDifferentialTableJoins(t *testing.T) {
	for seed := 0; seed < seeds(t); seed++ {
		r := rand.New(rand.NewSource(int64(seed)))
		kind := []string{"inner", "left", "outer"}[seed%3]
		b := operators.NewBuilder()
		st := operators.StreamOf(b, "s", operators.String, operators.String)
		lt := operators.TableOf(b, "lt", operators.String, operators.String)
		rt := operators.TableOf(b, "rt", operators.String, operators.String)
		switch kind {
		case "inner":
			operators.JoinTable(st, rt, func(_ string, v, row string) string { return v + "/" + row }).WithSerdes(operators.String, operators.String).To("st")
			operators.JoinTables(lt, rt, func(_ string, a, b string) string { return a + "+" + b }, operators.String).ToStream().To("tt")
		case "left":
			operators.LeftJoinTable(st, rt, func(_ string, v string, row *string) string { return v + "/" + opt(row) }).WithSerdes(operators.String, operators.String).To("st")
			operators.LeftJoinTables(lt, rt, func(_ string, a string, b *string) string { return a + "+" + opt(b) }, operators.String).ToStream().To("tt")
		case "outer":
			operators.LeftJoinTable(st, rt, func(_ string, v string, row *string) string { return v + "/" + opt(row) }).WithSerdes(operators.String, operators.String).To("st")
			operators.OuterJoinTables(lt, rt, func(_ string, a, b *string) string { return opt(a) + "+" + opt(b) }, operators.String).ToStream().To("tt")
		}
		d := mustDriver(t, b)
		in := map[string]*testdriver.InputTopic[string, string]{}
		for _, topic := range []string{"s", "lt", "rt"} {
			in[topic] = testdriver.Input(d, topic, operators.String, operators.String)
		}
		L, R := map[string]string{}, map[string]string{}
		var wantST, wantTT []string
		show := func(m map[string]string, k string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return "nil"
		}
		for i := 0; i < 200; i++ {
			k := string(rune('a' + r.Intn(4)))
			v := fmt.Sprint(i)
			ts := int64(i)
			switch topic := []string{"s", "lt", "rt"}[r.Intn(3)]; {
			case topic == "s":
				must(t, in["s"].Pipe(k, v, ts))
				if row, ok := R[k]; ok {
					wantST = append(wantST, fmt.Sprintf("%s=%s/%s@%d", k, v, row, ts))
				} else if kind != "inner" {
					wantST = append(wantST, fmt.Sprintf("%s=%s/nil@%d", k, v, ts))
				}
				continue
			default:
				m := L
				if topic == "rt" {
					m = R
				}
				if r.Intn(4) == 0 {
					must(t, in[topic].PipeTombstone(k, ts))
					delete(m, k)
				} else {
					must(t, in[topic].Pipe(k, v, ts))
					m[k] = v
				}
			}
			_, lok := L[k]
			_, rok := R[k]
			has := (kind == "inner" && lok && rok) || (kind == "left" && lok) || (kind == "outer" && (lok || rok))
			if has {
				wantTT = append(wantTT, fmt.Sprintf("%s=%s+%s@%d", k, show(L, k), show(R, k), ts))
			} else {
				wantTT = append(wantTT, fmt.Sprintf("%s=DEL@%d", k, ts))
			}
		}
		if got := readStr(t, d, "st"); !slices.Equal(got, wantST) {
			t.Fatalf("seed %d stream-table %s:\n got %v\nwant %v", seed, kind, got, wantST)
		}
		if got := readStr(t, d, "tt"); !slices.Equal(got, wantTT) {
			t.Fatalf("seed %d table-table %s:\n got %v\nwant %v", seed, kind, got, wantTT)
		}
	}
}
