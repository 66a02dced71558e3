// Package polltest waits in tests for something another goroutine or
// process brings about, by polling with a deadline instead of sleeping a
// guessed time. Central's and the agent's tests share it; it lives in the
// protocol module because that is the one both modules require.
package polltest

import (
	"testing"
	"time"
)

// maxInterval caps the pause between two checks.
const maxInterval = 20 * time.Millisecond

// Until checks cond until it holds, pausing 1 ms at first and up to 20 ms as
// the wait grows, and fails the test when it still does not hold after
// within; what names the awaited thing in the failure.
func Until(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	pause := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxInterval)
	}
}
