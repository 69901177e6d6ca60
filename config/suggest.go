package config

import "strings"

// normalize folds the differences that do not matter to a reader:
// case, and - or space for _.
func normalize(s string) string {
	return strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(s))
}

// maxSuggestLen: keys longer than this get no suggestion; comparing a
// hostile megabyte-long key with every candidate is not worth it.
const maxSuggestLen = 64

// suggest returns the candidate closest to name if it is close enough to
// be a typo (at most one edit for short names, two for longer), else "".
func suggest(name string, candidates []string) string {
	if len(name) > maxSuggestLen {
		return ""
	}
	n := normalize(name)
	best, bestDist := "", 3
	for _, c := range candidates {
		limit := 2
		if len(c) <= 4 {
			limit = 1
		}
		d := editDistance(n, c)
		if d <= limit && d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost one, so
// "fsp" is one edit from "fps".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// three rows: two back (for swaps), previous, current
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
