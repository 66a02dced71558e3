package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// One action said of several targets ("turn off the light strip and the
// pendants", "the lamp, the fan and the tv light", "the kitchen and office
// lights") is read as the sentence said once for each target. Home
// Assistant's intents take one target each; reading only the first would
// do part of what was asked and say it was done.

// listJoints separate the items of a list; a list needs a conjunction
// among them ("and", "or", "with", "plus", "as well as"), the rest are what
// a comma becomes in recognised speech.
var listJoints = map[string]bool{"and": true, "or": true, "with": true, "plus": true, "as": true, "well": true,
	"the": true, "my": true, "our": true, "both": true, "also": true}

// conjunction reports whether a joint joins items; "with" only in a
// command, since a question's "problem with the pet feeder" names one.
func conjunction(t string, question bool) bool {
	switch t {
	case "and", "or", "plus", "well":
		return true
	case "with":
		return !question
	}
	return false
}

// itemRun is a run of chunks that names one target; bare when no
// determiner comes before it.
type itemRun struct {
	from, to, chunkTo int
	bare              bool
	// head: a word that names a device only with the noun the list ends
	// in ("the port and starboard lights").
	head bool
}

// several returns the sentence said once for each target of a list, or nil
// when it names one. unclear is true for a choice ("the lamp or the fan")
// and for names of devices said one after another with no conjunction
// ("lamp 2 tv light", "the tv light the pendants"): neither says what to
// act on.
func (s *sentence) several(question bool) (parts []string, unclear bool) {
	for k := 0; k < len(s.chunks); k++ {
		first, ok := s.itemAt(k)
		if !ok {
			continue
		}
		items := []itemRun{first}
		joined, adjacent, or := false, false, false
		for next := first.chunkTo; ; {
			j := next
			conj, det := false, false
			for j < len(s.chunks) && s.chunks[j].kind == cWord && listJoints[s.toks[s.chunks[j].start]] {
				t := s.toks[s.chunks[j].start]
				c := conjunction(t, question)
				conj = conj || c
				det = det || !c && t != "as"
				or = or || t == "or"
				j++
			}
			it, ok := s.itemAt(j)
			if !ok || j == next && !s.entityAt(j) {
				break
			}
			// names said one after another, with at most a determiner
			// between them ("the tv light the pendants")
			adjacent = adjacent || s.entityAt(j) && s.entityAt(next-1)
			it.bare = !det
			joined = joined || conj
			items = append(items, it)
			next = it.chunkTo
		}
		switch {
		case len(items) < 2:
			k = first.chunkTo - 1
		case or || !joined && adjacent:
			return nil, true
		case joined:
			return s.listParts(items), false
		default:
			k = first.chunkTo - 1
		}
	}
	return nil, false
}

// entityAt reports whether chunk k names entities only.
func (s *sentence) entityAt(k int) bool {
	if k >= len(s.chunks) || s.chunks[k].kind != cRef {
		return false
	}
	for _, r := range s.chunks[k].refs {
		if r.Kind != intent.RefEntity {
			return false
		}
	}
	return true
}

// itemAt returns the run of names and device nouns starting at chunk k; a
// number only continues one ("lamp 2"), and a second entity's name starts
// another ("lamp 2 tv light").
func (s *sentence) itemAt(k int) (itemRun, bool) {
	if s.headShared(k) {
		c := s.chunks[k]
		return itemRun{from: c.start, to: c.end, chunkTo: k + 1, head: true}, true
	}
	j := k
	entity := false
	for j < len(s.chunks) {
		c := s.chunks[j]
		if c.kind != cRef && c.kind != cNoun && (c.kind != cNumber || j == k) {
			break
		}
		if s.entityAt(j) {
			if entity {
				break
			}
			entity = true
		}
		j++
	}
	if j == k {
		return itemRun{}, false
	}
	return itemRun{from: s.chunks[k].start, to: s.chunks[j-1].end, chunkTo: j}, true
}

// headShared reports whether chunk k is a word that names a device with
// the noun a list joined to it ends in: "port" in "the port and starboard
// lights" of a boat with a Port Light.
func (s *sentence) headShared(k int) bool {
	if k+1 >= len(s.chunks) || s.chunks[k].kind != cWord || grammarWords[s.toks[s.chunks[k].start]] {
		return false
	}
	j, conj := k+1, false
	for j < len(s.chunks) && s.chunks[j].kind == cWord && listJoints[s.toks[s.chunks[j].start]] {
		conj = conj || conjunction(s.toks[s.chunks[j].start], false)
		j++
	}
	if !conj {
		return false
	}
	for j+1 < len(s.chunks) && (s.chunks[j+1].kind == cRef || s.chunks[j+1].kind == cNoun) {
		j++
	}
	if j >= len(s.chunks) || s.chunks[j].kind != cRef && s.chunks[j].kind != cNoun {
		return false
	}
	noun := s.toks[s.chunks[j].end-1]
	if n, _ := matchNoun([]string{noun}, 0); n != 1 {
		return false
	}
	pair := []string{s.toks[s.chunks[k].start], noun}
	n, refs := s.reg.Match(pair, 0)
	if n != 2 {
		n, refs = s.reg.MatchNumber(pair, 0)
	}
	if n != 2 {
		return false
	}
	for _, r := range refs {
		if r.Kind != intent.RefEntity {
			return false
		}
	}
	return true
}

// listParts puts each item of a list in the place of the first. A device
// noun that ends only the last item is shared when the first has none:
// "the kitchen and office lights".
func (s *sentence) listParts(items []itemRun) []string {
	last := &items[len(items)-1]
	suffixFrom := last.to
	if lc := s.chunks[last.chunkTo-1]; lc.kind == cNoun && lc.start > last.from && !s.hasNoun(items[0]) {
		last.to, suffixFrom = lc.start, lc.start
	} else if items[0].head && last.to-last.from > 1 {
		last.to, suffixFrom = last.to-1, last.to-1 // "the port and starboard lights"
	}
	var prefix []string
	for _, t := range s.toks[:items[0].from] {
		if t != "both" {
			prefix = append(prefix, t)
		}
	}
	// "the kitchen light and fan": a bare device noun keeps what was said
	// before the first one's noun.
	var mods []string
	if lc := s.chunks[items[0].chunkTo-1]; lc.kind == cNoun && lc.start > items[0].from {
		mods = s.toks[items[0].from:lc.start]
	}
	suffix := s.toks[suffixFrom:]
	parts := make([]string, 0, len(items))
	for _, it := range items {
		words := append([]string{}, prefix...)
		if it.bare && s.onlyNouns(it) {
			words = append(words, mods...)
		}
		words = append(append(words, s.toks[it.from:it.to]...), suffix...)
		parts = append(parts, strings.Join(words, " "))
	}
	return parts
}

// onlyNouns reports whether an item is device nouns alone.
func (s *sentence) onlyNouns(it itemRun) bool {
	for _, c := range s.chunks {
		if c.start >= it.from && c.end <= it.to && c.kind != cNoun {
			return false
		}
	}
	return true
}

// hasNoun reports whether an item holds a device noun.
func (s *sentence) hasNoun(it itemRun) bool {
	for _, c := range s.chunks {
		if c.start >= it.from && c.end <= it.to && c.kind == cNoun {
			return true
		}
	}
	return false
}
