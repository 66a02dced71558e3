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
	var b strings.Builder
	b.Grow(len(s) + 8)
	space := true // suppress leading and repeated spaces
	prev := rune(0)
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
	out := b.String()
	return strings.TrimRight(out, " ")
}
