package intent

import (
	"math"
	"slices"
)

// NumberSlot is a slot that holds a number, with the range a language model
// or a parser plugin may give it. The rules' own numbers are clamped where
// they are planned; a number another parser chose is refused out of range
// (ADR 0053).
type NumberSlot struct {
	Name     string
	Min, Max float64
}

// NumberSlots are the number slots of the catalogue's intents.
var NumberSlots = []NumberSlot{
	{"brightness", 0, 100}, {"temperature", -50, 100}, {"position", 0, 100}, {"volume_level", 0, 100}, {"percentage", 0, 100},
	{"hours", 0, 24}, {"minutes", 0, 1440}, {"seconds", 0, 86400},
}

// IsNumberSlot reports whether name is one of NumberSlots.
func IsNumberSlot(name string) bool {
	return slices.ContainsFunc(NumberSlots, func(s NumberSlot) bool { return s.Name == name })
}

// NumberInRange reports whether f may fill the slot name when a model or a
// plugin chose it: a finite number, within the range of a number slot.
func NumberInRange(name string, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return false
	}
	i := slices.IndexFunc(NumberSlots, func(s NumberSlot) bool { return s.Name == name })
	return i < 0 || (f >= NumberSlots[i].Min && f <= NumberSlots[i].Max)
}
