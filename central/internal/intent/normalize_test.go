package intent

import (
	"math/rand/v2"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Turn on the Kid’s Room lights!": "turn on the kids room lights",
		"lights off on the 1st floor":    "lights off on the first floor",
		"set it to 21°C":                 "set it to 21 degrees c",
		"room 21st and 3rd":              "room 21st and third",
		"dim to 40%":                     "dim to 40 percent",
		"version 2.5b":                   "version 2.5b",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNormalizedNeedsNoFold checks the shortcut against the general case:
// whatever it lets through is what folding would have made of it.
func TestNormalizedNeedsNoFold(t *testing.T) {
	alphabet := []byte("az09 .,'A%st")
	rng := rand.New(rand.NewPCG(1, 2))
	through := 0
	for range 200000 {
		b := make([]byte, 1+rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		if got, want := Normalize(s), fold(s); got != want {
			t.Fatalf("Normalize(%q) = %q, folding gives %q", s, got, want)
		}
		if normalized(s) {
			through++
		}
	}
	if through < 1000 {
		t.Fatalf("only %d strings took the shortcut", through)
	}
}
