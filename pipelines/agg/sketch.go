package agg

import (
	"math"
	"slices"
	"sort"
)

// Sketch parameters: relative accuracy 1%, at most sketchMaxBuckets
// buckets per sign (the smallest magnitudes are merged beyond that), and
// exact values kept while there are at most sketchExactMax of them.
const (
	sketchAlpha      = 0.01
	sketchMaxBuckets = 2048
	sketchExactMax   = 128
)

var (
	sketchGamma    = (1 + sketchAlpha) / (1 - sketchAlpha)
	sketchLogGamma = math.Log(sketchGamma)
)

// Quantiles estimates percentiles of a stream of numbers: exact while it
// holds few values, then a DDSketch-style histogram of logarithmic buckets
// whose answers are within 1% of the true value at the requested rank.
// Merging two sketches is exact, so session windows can merge them.
type Quantiles struct {
	exact []float64 // while pos == nil
	pos   map[int32]uint64
	neg   map[int32]uint64
	zeros uint64
	n     uint64
}

// Add adds a value.
func (q *Quantiles) Add(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	if q.pos == nil {
		q.exact = append(q.exact, x)
		q.n++
		if len(q.exact) > sketchExactMax {
			q.toBuckets()
		}
		return
	}
	q.addBucket(x, 1)
}

func (q *Quantiles) toBuckets() {
	q.pos, q.neg = map[int32]uint64{}, map[int32]uint64{}
	vals := q.exact
	q.exact, q.n = nil, 0
	for _, v := range vals {
		q.addBucket(v, 1)
	}
}

func bucketOf(x float64) int32 {
	return int32(math.Ceil(math.Log(x) / sketchLogGamma))
}

// bucketValue is the value a bucket stands for: within alpha of every
// value in it.
func bucketValue(i int32) float64 {
	return 2 * math.Pow(sketchGamma, float64(i)) / (1 + sketchGamma)
}

func (q *Quantiles) addBucket(x float64, c uint64) {
	q.n += c
	switch {
	case x > 1e-300:
		q.pos[bucketOf(x)] += c
		collapse(q.pos)
	case x < -1e-300:
		q.neg[bucketOf(-x)] += c
		collapse(q.neg)
	default:
		q.zeros += c
	}
}

// collapse merges the smallest-magnitude buckets when there are too many,
// keeping the accuracy guarantee for the higher percentiles users ask for.
func collapse(m map[int32]uint64) {
	if len(m) <= sketchMaxBuckets {
		return
	}
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	m[keys[1]] += m[keys[0]]
	delete(m, keys[0])
}

// Merge adds o's values.
func (q *Quantiles) Merge(o *Quantiles) {
	if o.pos == nil {
		for _, v := range o.exact {
			q.Add(v)
		}
		return
	}
	if q.pos == nil {
		q.toBuckets()
	}
	for k, c := range o.pos {
		q.pos[k] += c
	}
	for k, c := range o.neg {
		q.neg[k] += c
	}
	collapse(q.pos)
	collapse(q.neg)
	q.zeros += o.zeros
	q.n += o.n
}

// Percentile returns the value at percentile p (0..100) by the
// nearest-rank method, or false when empty.
func (q *Quantiles) Percentile(p float64) (float64, bool) {
	if q.n == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(p / 100 * float64(q.n)))
	if rank < 1 {
		rank = 1
	}
	if q.pos == nil {
		s := slices.Clone(q.exact)
		slices.Sort(s)
		return s[rank-1], true
	}
	// negative values, most negative first
	negKeys := sortedKeys(q.neg)
	var seen uint64
	for i := len(negKeys) - 1; i >= 0; i-- {
		seen += q.neg[negKeys[i]]
		if seen >= rank {
			return -bucketValue(negKeys[i]), true
		}
	}
	seen += q.zeros
	if seen >= rank {
		return 0, true
	}
	for _, k := range sortedKeys(q.pos) {
		seen += q.pos[k]
		if seen >= rank {
			return bucketValue(k), true
		}
	}
	return bucketValue(sortedKeys(q.pos)[len(q.pos)-1]), true
}

func sortedKeys(m map[int32]uint64) []int32 {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
