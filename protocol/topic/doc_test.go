package topic

import (
	"os"
	"regexp"
	"testing"
)

// TestProtocolDocMatchesSchema keeps docs/protocol.md in step with the kinds
// defined here: every kind documented, nothing documented that does not exist.
func TestProtocolDocMatchesSchema(t *testing.T) {
	b, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatalf("read protocol doc: %v", err)
	}
	re := regexp.MustCompile("`" + regexp.QuoteMeta(Prefix) + `\{home\}/([a-z]+)` + "`")
	documented := map[Kind]bool{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		k := Kind(m[1])
		if !k.Valid() {
			t.Errorf("docs/protocol.md documents unknown kind %q", k)
		}
		documented[k] = true
	}
	for _, k := range Kinds {
		if !documented[k] {
			t.Errorf("kind %q is missing from docs/protocol.md", k)
		}
	}
}
