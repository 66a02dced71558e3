package supervisor

import (
	"errors"
	"strings"
	"testing"
)

// TestAttacksRound4Images is the supervisor's part of the fourth attack
// round (docs/benchmarks.md, "Attacks, round 4"): image references a
// compromised central sends to slip past the allow-list, as a lookalike, a
// path, another port of an allowed registry or a name with spaces.
func TestAttacksRound4Images(t *testing.T) {
	p, err := newImagePolicy(append([]string{"mirror.example/ha/*"}, OfficialImages...))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{
		"ghcr.io/home-assistant/home-assistant/../../evil/miner",
		"GHCR.IO/home-assistant/home-assistant:stable",
		"ghcr.io:443/home-assistant/home-assistant:stable",
		"ghcr.io.evil.example/home-assistant/home-assistant:stable",
		"evil.example/ghcr.io/home-assistant/home-assistant:stable",
		"ghcr.io/home-assistant/home-assistant:stable ",
		" ghcr.io/home-assistant/home-assistant:stable",
		"ghcr.io/home-assistant/home-assistant:stable\n",
		"ghcr.io/home-assistant/home-assistant\u200b:stable",
		"mirror.example/ha/../evil:1",
		"mirror.example/ha",
		"mirror.example/hab/x:1",
		"mirror.example/ha/" + strings.Repeat("a", 300),
	} {
		if err := p.check(ref); !errors.Is(err, ErrImageNotAllowed) {
			t.Errorf("%q: %v, want ErrImageNotAllowed", ref, err)
		}
	}
}
