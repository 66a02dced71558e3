package hosting

import (
	"errors"
	"math"
	"testing"
)

// TestAttacksRound4Books is the hosting agent's part of the fourth attack
// round (docs/benchmarks.md, "Attacks, round 4"): limits for one hosted
// home, from central or a home's limits file, sized to overflow the books
// and take the server's memory from every other home.
func TestAttacksRound4Books(t *testing.T) {
	rows := []struct {
		name string
		lim  Limits
	}{
		{"memory of 2⁶³-1 beside a booked home", Limits{MemoryBytes: math.MaxInt64}},
		{"memory that overflows with the other home's booking", Limits{MemoryBytes: math.MaxInt64 - 64<<20}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			h, err := Open(t.TempDir(), Options{FirstPort: 8200, LastPort: 8209, MemoryBytes: 4 << 30,
				PortFree: func(int) bool { return true }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.Admit("a", Limits{MemoryBytes: 1 << 30}); err != nil {
				t.Fatal(err)
			}
			if _, err := h.Admit("b", r.lim); !errors.Is(err, ErrMemoryExhausted) {
				t.Errorf("admit %v: %v, want ErrMemoryExhausted", r.lim, err)
			}
			if _, err := h.Admit("b2", Limits{MemoryBytes: 1 << 30}); err != nil {
				t.Errorf("an ordinary home after the attempt: %v", err)
			}
			if _, err := h.Resize("a", r.lim); err == nil {
				t.Errorf("resize to %v accepted", r.lim)
			}
		})
	}
}
