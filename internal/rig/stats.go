package rig

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 to 100) of xs by the nearest
// rank: the smallest value at least p percent of the values are at or
// below. It is 0 for no values.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// Ms is d in milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
