//go:build !race

package intent_test

import (
	"context"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// maxAllocsPerSentence bounds parse + resolve allocations on the
// benchmark's sentences: the slots map, its values and the targets. Before
// the parser reused its scratch space a sentence took 27.
const maxAllocsPerSentence = 8

func TestParseResolveAllocations(t *testing.T) {
	reg := benchHome(t, 1000)
	p := rules.New(rules.Options{})
	ctx := context.Background()
	pc := intent.Context{Area: "Kitchen"}
	i := 0
	allocs := testing.AllocsPerRun(len(benchSentences)*50, func() {
		in, _ := p.Parse(ctx, benchSentences[i%len(benchSentences)], reg, pc)
		_, _ = intent.Resolve(reg, in)
		i++
	})
	t.Logf("%.1f allocations per sentence", allocs)
	if allocs > maxAllocsPerSentence {
		t.Errorf("%.1f allocations per sentence, want at most %d", allocs, maxAllocsPerSentence)
	}
}
