package rules

import (
	"slices"
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// shortEnds are the words that close a request after the device's name:
// "switch the sign off", "extractor on please".
var shortEnds = map[string]bool{"on": true, "off": true, "please": true}

// shortDeterminers come before a name said short.
var shortDeterminers = map[string]bool{"the": true, "my": true, "our": true}

// shortNames rewrites a device's name said short, then closed by "on",
// "off" or "please", to the whole name: its last words without the words
// before ("switch the towel rail off" for the Heated Towel Rail, "pendants
// off please" for the Island Pendants), or its first words without its
// device noun ("turn the extractor off" for the Extractor Fan, "switch the
// sign off" for the Sign Light). A sentence that ends on a short name ("turn
// on the ring" of the Ring Light, "unlock the hatch") may have been cut off
// by the recogniser or name what the home lacks, and stays unread, unless
// it switches off, closes or stops ("turn off the floodlight" of the Yard
// Floodlight): the safe way, that opens nothing. The short
// words must start the sentence or follow a determiner, name nothing else in
// the home and hold no common device noun or function word; exactly one
// device must carry them.
func shortNames(toks []string, reg *intent.Index) []string {
	for j := 1; j <= len(toks); j++ {
		if j == len(toks) && !switchesOff(toks) || j < len(toks) && !shortEnds[toks[j]] && !asksAbout(toks, j) {
			continue
		}
		for i := max(0, j-3); i < j; i++ {
			if i > 0 && !shortDeterminers[toks[i-1]] {
				continue
			}
			if full := shortName(toks[i:j], reg); full != nil {
				return slices.Concat(toks[:i], full, toks[j:])
			}
		}
	}
	return toks
}

// shortName returns the whole name of the one device the words are a short
// name of, or nil.
func shortName(words []string, reg *intent.Index) []string {
	for i := range words {
		if n, _ := matchNoun(words, i); n > 0 || grammarWords[words[i]] {
			return nil
		}
	}
	if n, _ := reg.Match(words, 0); n > 0 {
		return nil // a name or a place of its own
	}
	var found []string
	for _, e := range reg.Entities() {
		name := strings.Fields(intent.Normalize(e.GetName()))
		if len(name) <= len(words) || !shortOf(words, name, e.GetDomain()) {
			continue
		}
		if found != nil {
			return nil // two devices: which one is not said
		}
		found = name
	}
	return found
}

// shortOf reports whether words are the name's last words, or its first
// words before a noun of the device's own kind.
func shortOf(words, name []string, domain string) bool {
	if slices.Equal(name[len(name)-len(words):], words) {
		return true
	}
	if !slices.Equal(name[:len(words)], words) {
		return false
	}
	n, c := matchNoun(name, len(words))
	return len(words)+n == len(name) && c != nil && c.domain == domain
}

// switchesOff reports whether a request starts by switching off, closing
// or stopping: "turn off the …", "switch the … off", "close the …".
func switchesOff(toks []string) bool {
	switch toks[0] {
	case "close", "shut", "stop":
		return true
	case "turn", "switch":
		return len(toks) > 1 && toks[1] == "off"
	}
	return false
}

// asksAbout reports whether a question ends at j on what it asks of
// the device, "is the alarm set", "what's the alarm doing": a question
// changes nothing, so a short name in it is read before any state.
func asksAbout(toks []string, j int) bool {
	switch toks[0] {
	case "is", "are", "whats", "hows", "what", "how":
	default:
		return false
	}
	_, state := stateWords[toks[j]]
	return (state || askedStates[toks[j]]) && saidLast(toks[j+1:])
}

// askedStates end a question on a device's state beside the state words.
var askedStates = map[string]bool{"doing": true, "set": true, "armed": true, "disarmed": true}
