//go:build !race

// The race detector drops sync.Pool items at random, so allocations are
// counted without it: make test runs these tests once more without -race.

package pack_test

import (
	"testing"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// The point of packing: the cache's entities hold few heap objects. A
// pack of entities with attributes takes a handful of allocations however
// many entities it packs, where decoded each holds dozens.
func TestPackAllocatesPerCall(t *testing.T) {
	for _, n := range []int{1, 10, 100} {
		src := make([]*homeplanev1.Entity, n)
		for i := range src {
			src[i] = entities(t)[0]
		}
		es := make([]*homeplanev1.Entity, n)
		allocs := testing.AllocsPerRun(20, func() {
			copy(es, src)
			pack.Entities(es)
		})
		// The plan, the encodings, the strings, the aliases and the
		// messages.
		if allocs > 5 {
			t.Errorf("%v allocations to pack %d entities, want at most 5", allocs, n)
		}
	}
}
