package backoff

import (
	"testing"
	"time"
)

func TestJitteredBounded(t *testing.T) {
	for n := 1; n < 40; n++ {
		if d := Jittered(n, time.Second, time.Minute); d < 0 || d > time.Minute {
			t.Fatalf("Jittered(%d) = %v outside [0, 1m]", n, d)
		}
	}
	// The first attempt waits at most the lower bound.
	for range 100 {
		if d := Jittered(1, time.Second, time.Minute); d > time.Second {
			t.Fatalf("Jittered(1) = %v, more than 1s", d)
		}
	}
}
