package rules

import "strconv"

var smallNumbers = map[string]int{
	"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
	"thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
	"eighteen": 18, "nineteen": 19,
}

var tensNumbers = map[string]int{
	"twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
	"seventy": 70, "eighty": 80, "ninety": 90,
}

// numberWords holds every word parseWordInt starts a number with, so that
// the words of a sentence that are not numbers cost one lookup.
var numberWords = func() map[string]bool {
	m := map[string]bool{}
	for w := range smallNumbers {
		m[w] = true
	}
	for w := range tensNumbers {
		m[w] = true
	}
	return m
}()

// parseNumber reads a number written in digits ("20.5") or words ("twenty
// point five", "one hundred") at toks[i]; n is the number of tokens used.
func parseNumber(toks []string, i int) (v float64, n int) {
	if i >= len(toks) {
		return 0, 0
	}
	t := toks[i]
	if t != "" && (t[0] >= '0' && t[0] <= '9' || t[0] == '.') {
		f, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return 0, 0
		}
		return f, 1
	}
	if t == "a" && i+1 < len(toks) && (toks[i+1] == "hundred" || toks[i+1] == "thousand") {
		// "a hundred percent"
		w, n := parseWordInt(append([]string{"one"}, toks[i+1:min(i+4, len(toks))]...), 0)
		return float64(w), n
	}
	if !numberWords[t] {
		return 0, 0
	}
	whole, n := parseWordInt(toks, i)
	if n == 0 {
		return 0, 0
	}
	v = float64(whole)
	if i+n+1 < len(toks) && toks[i+n] == "point" {
		scale := 0.1
		j := i + n + 1
		for ; j < len(toks); j++ {
			d, ok := smallNumbers[toks[j]]
			if !ok || d > 9 {
				break
			}
			v += float64(d) * scale
			scale /= 10
		}
		if j > i+n+1 {
			n = j - i
		}
	}
	return v, n
}

// parseWordInt reads a whole number written in words, up to the thousands.
func parseWordInt(toks []string, i int) (v, n int) {
	total, cur := 0, 0
	j := i
	seen := false
	for j < len(toks) {
		t := toks[j]
		if s, ok := smallNumbers[t]; ok {
			if t == "oh" && !seen {
				break
			}
			cur += s
			j++
			seen = true
			continue
		}
		if s, ok := tensNumbers[t]; ok {
			cur += s
			j++
			seen = true
			if j < len(toks) {
				if u, ok := smallNumbers[toks[j]]; ok && u > 0 && u < 10 {
					cur += u
					j++
				}
			}
			continue
		}
		if t == "hundred" && seen {
			cur *= 100
			j++
			continue
		}
		if t == "thousand" && seen {
			total += cur * 1000
			cur = 0
			j++
			continue
		}
		if t == "and" && seen && j+1 < len(toks) {
			if _, ok := smallNumbers[toks[j+1]]; ok && cur >= 100 {
				j++
				continue
			}
			if _, ok := tensNumbers[toks[j+1]]; ok && cur >= 100 {
				j++
				continue
			}
		}
		break
	}
	if !seen {
		return 0, 0
	}
	return total + cur, j - i
}

// number returns a slot value: an int when whole, else a float64.
func number(f float64) any {
	if f == float64(int(f)) && f < 1e9 && f > -1e9 {
		return int(f)
	}
	return f
}
