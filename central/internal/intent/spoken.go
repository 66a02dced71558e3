package intent

import "strings"

// digitWords are how speech recognizers write the numbers people put in
// names ("Bedroom 2", "Sonos One"); either form should find the name.
var digitWords = map[string]string{
	"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five",
	"6": "six", "7": "seven", "8": "eight", "9": "nine", "10": "ten",
	"11": "eleven", "12": "twelve", "13": "thirteen", "14": "fourteen", "15": "fifteen",
	"16": "sixteen", "17": "seventeen", "18": "eighteen", "19": "nineteen", "20": "twenty",
}

var wordDigits = func() map[string]string {
	m := make(map[string]string, len(digitWords))
	for d, w := range digitWords {
		m[w] = d
	}
	return m
}()

// numberVariant returns a normalized name with its numbers swapped between
// digits and words ("bedroom 2" ↔ "bedroom two"), or false when the name
// holds no number.
func numberVariant(key string) (string, bool) {
	// Most names hold no number: find that out without splitting them.
	found := false
	for t := range strings.FieldsSeq(key) {
		if _, ok := digitWords[t]; ok {
			found = true
			break
		}
		if _, ok := wordDigits[t]; ok {
			found = true
			break
		}
	}
	if !found {
		return "", false
	}
	toks := strings.Fields(key)
	changed := false
	for i, t := range toks {
		if w, ok := digitWords[t]; ok {
			toks[i], changed = w, true
		} else if d, ok := wordDigits[t]; ok {
			toks[i], changed = d, true
		}
	}
	if !changed {
		return "", false
	}
	return strings.Join(toks, " "), true
}

// splitWords are names written as one word that recognisers write as two:
// "Nightlight 2" is heard as "night light 2". Words made with "light" or
// "lighter" ("Uplighter", "Skylight") are split by splitWord without a
// list.
var splitWords = map[string]string{
	"lamppost": "lamp post", "doorbell": "door bell",
}

// lightHeads are the second halves of a compound a recogniser hears as
// two words: "up lighter", "flood lights".
var lightHeads = []string{"lighters", "lighter", "lights", "light"}

// splitWord returns a word of a name written as two, or false.
func splitWord(t string) (string, bool) {
	if w, ok := splitWords[t]; ok {
		return w, true
	}
	for _, h := range lightHeads {
		if len(t) >= len(h)+2 && strings.HasSuffix(t, h) {
			return t[:len(t)-len(h)] + " " + h, true
		}
	}
	return "", false
}

// joinVariant returns a key whose "lighter" follows a word, written as
// one: "up lighter" is heard as "uplighter". Only "lighter": a light
// joined to the word before it ("head light") is often another name
// ("Headlight").
func joinVariant(key string) (string, bool) {
	i := strings.Index(key, " lighter")
	if i <= 0 || key[i-1] < 'a' || key[i-1] > 'z' {
		return "", false
	}
	return key[:i] + key[i+1:], true
}

// splitVariant returns a key with its one-word names written as two, or
// false when it has none.
func splitVariant(key string) (string, bool) {
	found := false
	for t := range strings.FieldsSeq(key) {
		if _, found = splitWord(t); found {
			break
		}
	}
	if !found {
		return "", false
	}
	toks := strings.Fields(key)
	for i, t := range toks {
		if w, ok := splitWord(t); ok {
			toks[i] = w
		}
	}
	return strings.Join(toks, " "), true
}

// spellings are words of names spelled one way in Britain and another in
// America: a name is found by either.
var spellings = map[string]string{
	"cosy": "cozy", "cozy": "cosy", "colour": "color", "color": "colour", "grey": "gray", "gray": "grey",
	"centre": "center", "center": "centre", "theatre": "theater", "theater": "theatre",
	"favourite": "favorite", "favorite": "favourite", "mum": "mom", "mom": "mum",
	"aluminium": "aluminum", "aluminum": "aluminium", "storey": "story", "pyjama": "pajama", "pajama": "pyjama",
}

// spellingVariant returns a key with its words spelled the other way, or
// false when it has none to spell.
func spellingVariant(key string) (string, bool) {
	found := false
	for t := range strings.FieldsSeq(key) {
		if _, found = spellings[t]; found {
			break
		}
	}
	if !found {
		return "", false
	}
	toks := strings.Fields(key)
	for i, t := range toks {
		if w, ok := spellings[t]; ok {
			toks[i] = w
		}
	}
	return strings.Join(toks, " "), true
}
