package intent

import (
	"strings"
	"unicode"
)

// PlaceHere settles "in here" for a parser with no grammar of its own (a
// model, a plugin), which may answer "the lights in here" with no place at
// all, and so with every light of the home. When text names the speaker's
// own room and in names no area, floor or one entity, the voice device's
// room becomes the area; from a device in no room, in.Here is set, for the
// engine to act on nothing. The rules parser reads the same words in its
// own grammar.
func PlaceHere(text string, in Intent, pc Context) Intent {
	if !NeedsTarget(in.Name) || !unplacedHere(text, in) {
		return in
	}
	if pc.Area == "" {
		in.Here = true
		return in
	}
	slots := make(map[string]any, len(in.Slots)+1)
	for k, v := range in.Slots {
		slots[k] = v
	}
	slots["area"] = pc.Area
	in.Slots = slots
	return in
}

// unplacedHere reports whether text names the speaker's room ("in here",
// "this room", "my room") while in's slots say no place and no one entity.
func unplacedHere(text string, in Intent) bool {
	if in.Slots["area"] != nil || in.Slots["floor"] != nil {
		return false
	}
	if n := in.Slot("name"); n != "" && n != NameAll {
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\''
	})
	for i, w := range words {
		switch {
		case w == "here":
			return true
		case (w == "room" || w == "area" || w == "space") && i > 0:
			switch words[i-1] {
			case "this", "my", "our", "the", "same", "current":
				return true
			}
		}
	}
	return false
}
