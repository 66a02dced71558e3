package intent

import "testing"

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
