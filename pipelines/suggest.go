package pipelines

import (
	"fmt"
	"sort"
	"strings"
)

// suggest returns a did-you-mean hint for an unknown name, or a list of
// the valid names when none is close. what names the kind of thing
// ("field", "step", "connector option").
func suggest(name string, valid []string, what string) string {
	best, bestDist := "", 1<<30
	for _, v := range valid {
		d := editDistance(strings.ToLower(name), strings.ToLower(v))
		if d < bestDist || (d == bestDist && v < best) {
			best, bestDist = v, d
		}
	}
	// A suggestion is useful when at most a third of the letters differ,
	// or when one name contains the other ("agg" for "aggregates").
	limit := max(1, len(name)/3)
	if best != "" && (bestDist <= limit || (len(name) >= 3 && strings.Contains(strings.ToLower(best), strings.ToLower(name)))) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(valid) == 0 {
		return ""
	}
	sorted := append([]string(nil), valid...)
	sort.Strings(sorted)
	return fmt.Sprintf("valid %ss: %s", what, strings.Join(sorted, ", "))
}

// editDistance is the Levenshtein distance, with a transposition counted
// as one edit (the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
