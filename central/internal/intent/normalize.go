package intent

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Normalize lower-cases text, drops apostrophes, turns "%" into " percent"
// and any other punctuation into spaces, and collapses whitespace, so that
// names and sentences compare regardless of case and punctuation. A dot or
// comma between two digits is kept as a decimal point.
func Normalize(s string) string {
	if normalized(s) {
		return s
	}
	return fold(s)
}

// fold is Normalize's general case.
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	space := true // suppress leading and repeated spaces
	prev := rune(0)
	ordinal := false // a letter right after a digit: "1st", "2nd"
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\'' || r == '\u2019' || r == '\u2018' || r == '`':
			continue
		case r == '%':
			if !space {
				b.WriteByte(' ')
			}
			b.WriteString("percent ")
			space = true
		case r == '°':
			if !space {
				b.WriteByte(' ')
			}
			b.WriteString("degrees ")
			space = true
		case (r == '.' || r == ',') && unicode.IsDigit(prev) && i < len(s) && s[i] >= '0' && s[i] <= '9':
			if r == ',' {
				// "1,000" is a thousands separator, "20,5" is not worth guessing.
				continue
			}
			b.WriteByte('.')
			space = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			ordinal = ordinal || unicode.IsLetter(r) && unicode.IsDigit(prev)
			b.WriteRune(unicode.ToLower(r))
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
		prev = r
	}
	out := strings.TrimRight(b.String(), " ")
	if ordinal {
		out = spellOrdinals(out)
	}
	return out
}

// normalized reports whether s is already what Normalize makes of it: lower
// case ASCII words of letters and digits, one space apart, no ordinal
// ("1st") to spell. Recognisers often write exactly that, and the parser
// then needs no copy of the sentence.
func normalized(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return s == ""
	}
	var prev byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			if prev >= '0' && prev <= '9' {
				return false
			}
		case c >= '0' && c <= '9':
		case c == ' ':
			if prev == ' ' {
				return false
			}
		default:
			return false
		}
		prev = c
	}
	return true
}

// ordinals spells the numbered ordinals a recogniser writes in digits, so
// that "1st floor" and "first floor" are the same words.
var ordinals = map[string]string{
	"1st": "first", "2nd": "second", "3rd": "third", "4th": "fourth", "5th": "fifth",
	"6th": "sixth", "7th": "seventh", "8th": "eighth", "9th": "ninth", "10th": "tenth",
}

func spellOrdinals(s string) string {
	f := strings.Fields(s)
	changed := false
	for i, t := range f {
		if w, ok := ordinals[t]; ok {
			f[i], changed = w, true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(f, " ")
}
