// Package backoff computes retry delays: exponential with full jitter, so
// that many agents retrying at once spread out instead of arriving together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Jittered is the delay before attempt n (1-based): uniform in
// [0, min(hi, lo·2^(n-1))].
func Jittered(n int, lo, hi time.Duration) time.Duration {
	ceil := lo
	for i := 1; i < n && ceil < hi; i++ {
		ceil *= 2
	}
	return rand.N(min(ceil, hi) + 1)
}
