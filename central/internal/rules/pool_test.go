package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestParseConcurrentSameAnswers parses the development set from several
// goroutines in shuffled orders: sentences reused between parses must not
// carry anything from one parse into another.
func TestParseConcurrentSameAnswers(t *testing.T) {
	reg, lines := loadEval(t, evalDir(t))
	p := New(Options{})
	answer := func(text string) string {
		in, err := p.Parse(context.Background(), text, reg, intent.Context{Area: "Kitchen"})
		slots, _ := json.Marshal(in.Slots)
		return fmt.Sprintf("%s %s %v", in.Name, slots, err)
	}
	want := make([]string, len(lines))
	for i, l := range lines {
		want[i] = answer(l.Text)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for _, i := range rng.Perm(len(lines)) {
				if got := answer(lines[i].Text); got != want[i] {
					t.Errorf("%q: %s, alone %s", lines[i].Text, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
}
