package agg

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var allSpecs = []Spec{{Kind: Count}, {Kind: Sum}, {Kind: Avg}, {Kind: Min}, {Kind: Max}, {Kind: First}, {Kind: Last}, {Kind: CountDistinct}, {Kind: Percentile, Param: 50}}

func results(s *State, specs []Spec) []any {
	out := make([]any, len(specs))
	for i, sp := range specs {
		out[i] = s.Result(i, sp)
	}
	return out
}

func TestStateSmallExact(t *testing.T) {
	s := New(allSpecs)
	in := []struct {
		v  float64
		ts int64
	}{{20, 3000}, {10, 1000}, {30, 2000}, {10, 4000}, {40, 500}}
	for _, r := range in {
		vals := []any{nil, r.v, r.v, r.v, r.v, r.v, r.v, r.v, r.v}
		if err := s.Add(vals, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	// a null is skipped by everything but count
	if err := s.Add(make([]any, len(allSpecs)), 6000); err != nil {
		t.Fatal(err)
	}
	got := results(s, allSpecs)
	want := []any{int64(6), 110.0, 22.0, 10.0, 40.0, 40.0, 10.0, int64(4), 20.0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results = %v, want %v", got, want)
	}
	// binary round trip keeps every slot
	back, err := Unmarshal(s.Marshal(nil), allSpecs)
	if err != nil {
		t.Fatal(err)
	}
	if g := results(back, allSpecs); !reflect.DeepEqual(g, want) {
		t.Errorf("after round trip = %v, want %v", g, want)
	}
}

func TestStateWrongTypeSkipped(t *testing.T) {
	specs := []Spec{{Kind: Sum}, {Kind: Count}}
	s := New(specs)
	if err := s.Add([]any{"hot", nil}, 1); err == nil {
		t.Error("sum of a string: no error")
	}
	_ = s.Add([]any{2.0, nil}, 2)
	if got := results(s, specs); !reflect.DeepEqual(got, []any{2.0, int64(2)}) {
		t.Errorf("results = %v", got)
	}
}

func TestMinMaxStringsAndTimes(t *testing.T) {
	specs := []Spec{{Kind: Min}, {Kind: Max}}
	s := New(specs)
	t1, t2 := time.Unix(100, 0).UTC(), time.Unix(200, 0).UTC()
	_ = s.Add([]any{"b", t2}, 1)
	_ = s.Add([]any{"a", t1}, 2)
	if got := results(s, specs); !reflect.DeepEqual(got, []any{"a", t2}) {
		t.Errorf("results = %v", got)
	}
	back, err := Unmarshal(s.Marshal(nil), specs)
	if err != nil || !reflect.DeepEqual(results(back, specs), []any{"a", t2}) {
		t.Errorf("round trip: %v %v", err, back)
	}
}

func TestMergeEqualsAddingAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, b, all := New(allSpecs), New(allSpecs), New(allSpecs)
	for i := 0; i < 2000; i++ {
		v := math.Round(rng.NormFloat64()*100) / 10
		vals := []any{nil, v, v, v, v, v, v, v, v}
		ts := rng.Int64N(100000)
		_ = all.Add(vals, ts)
		if i%2 == 0 {
			_ = a.Add(vals, ts)
		} else {
			_ = b.Add(vals, ts)
		}
	}
	a.Merge(b)
	ga, gall := results(a, allSpecs), results(all, allSpecs)
	for i := range ga {
		if allSpecs[i].Kind == Sum || allSpecs[i].Kind == Avg {
			if math.Abs(ga[i].(float64)-gall[i].(float64)) > 1e-6 {
				t.Errorf("slot %d: merged %v, all %v", i, ga[i], gall[i])
			}
			continue
		}
		if !reflect.DeepEqual(ga[i], gall[i]) {
			t.Errorf("slot %d (%v): merged %v, all %v", i, allSpecs[i].Kind, ga[i], gall[i])
		}
	}
}

func TestDistinctAccuracy(t *testing.T) {
	for _, n := range []int{1, 100, 256, 1000, 50000} {
		d := &Distinct{}
		for i := 0; i < n; i++ {
			d.AddHash(hashValue(float64(i)))
			d.AddHash(hashValue(float64(i))) // duplicates do not count
		}
		got := float64(d.Count())
		if n <= hllExactMax {
			if got != float64(n) {
				t.Errorf("n=%d: count %v, want exact", n, got)
			}
			continue
		}
		if rel := math.Abs(got-float64(n)) / float64(n); rel > 0.07 { // 3 standard errors
			t.Errorf("n=%d: estimate %v, error %.1f%%", n, got, rel*100)
		}
	}
}

func TestQuantilesAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	q := &Quantiles{}
	var vals []float64
	for i := 0; i < 100000; i++ {
		v := math.Exp(rng.NormFloat64()) * 100 // latency-like, long tail
		if i%10 == 0 {
			v = -v
		}
		q.Add(v)
		vals = append(vals, v)
	}
	slices.Sort(vals)
	for _, p := range []float64{1, 10, 50, 90, 99, 99.9} {
		got, _ := q.Percentile(p)
		want := vals[int(math.Ceil(p/100*float64(len(vals))))-1]
		if rel := math.Abs(got-want) / math.Abs(want); rel > sketchAlpha+1e-9 {
			t.Errorf("p%v: got %v, want %v (error %.2f%%)", p, got, want, rel*100)
		}
	}
	back, err := Unmarshal(func() []byte {
		s := New([]Spec{{Kind: Percentile, Param: 99}})
		s.Slots[0].q = q
		return s.Marshal(nil)
	}(), []Spec{{Kind: Percentile, Param: 99}})
	if err != nil {
		t.Fatal(err)
	}
	g1, _ := q.Percentile(99)
	if g2 := back.Result(0, Spec{Kind: Percentile, Param: 99}); g2 != g1 {
		t.Errorf("p99 after round trip %v, before %v", g2, g1)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	s := New(allSpecs)
	_ = s.Add([]any{nil, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}, 1)
	good := s.Marshal(nil)
	if _, err := Unmarshal(good, allSpecs[:3]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("wrong spec count: %v", err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := Unmarshal(good[:i], allSpecs); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated at %d: %v", i, err)
		}
	}
}

// FuzzUnmarshal: state comes back from changelog topics, so any bytes must
// give a state or ErrCorrupt, never a panic, and a decoded state must
// re-encode to bytes that decode the same.
func FuzzUnmarshal(f *testing.F) {
	s := New(allSpecs)
	_ = s.Add([]any{nil, 1.0, 2.0, "a", time.Unix(5, 0).UTC(), int64(3), map[string]any{"x": 1.0}, 7.0, 8.0}, 9)
	f.Add(s.Marshal(nil))
	f.Add(New(allSpecs).Marshal(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Unmarshal(data, allSpecs)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		for i, sp := range allSpecs {
			st.Result(i, sp)
		}
		again, err := Unmarshal(st.Marshal(nil), allSpecs)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		// compared as text: a NaN sum read from the bytes equals itself
		if fmt.Sprint(results(again, allSpecs)) != fmt.Sprint(results(st, allSpecs)) {
			t.Fatalf("results differ after re-encoding")
		}
	})
}
