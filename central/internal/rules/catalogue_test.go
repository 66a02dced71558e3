package rules

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// catalogueSentences exercise the rows the sentence sets do not.
var catalogueSentences = []string{"toggle the kitchen light"}

// TestCatalogueMatchesGrammar checks the intent catalogue against the
// grammar both ways: every intent the parser answers, or a sentence set
// expects, has a row, and every row is an intent the parser answers.
func TestCatalogueMatchesGrammar(t *testing.T) {
	p := New(Options{})
	devReg, devLines := loadEval(t, evalDir(t))
	type set struct {
		reg   *intent.Index
		lines []evalLine
	}
	sets := []set{{devReg, devLines}}
	for _, s := range heldOutSets {
		sets = append(sets, set{loadHome(t, s.home), readLines(t, filepath.Join("testdata", s.file))})
	}
	for _, s := range sentenceSets {
		reg := devReg
		if s.home != "" {
			reg = loadHome(t, s.home)
		}
		sets = append(sets, set{reg, readLines(t, filepath.Join("testdata", s.file))})
	}
	extra := make([]evalLine, 0, len(catalogueSentences))
	for _, s := range catalogueSentences {
		extra = append(extra, evalLine{Text: s})
	}
	sets = append(sets, set{devReg, extra})

	answered := map[intent.Name]string{}
	for _, s := range sets {
		for _, l := range s.lines {
			if l.Intent != "" && l.Intent != "several" { // a list is its parts' intent, said once each
				if _, ok := intent.Lookup(intent.Name(l.Intent)); !ok {
					t.Errorf("%q: expected intent %s has no catalogue row", l.Text, l.Intent)
				}
			}
			pc := intent.Context{}
			if a, ok := l.Context["area"].(string); ok {
				pc.Area = a
			}
			got, err := p.Parse(context.Background(), l.Text, s.reg, pc)
			var unknown *intent.UnknownError
			var several *intent.SeveralTargets
			switch {
			case errors.As(err, &unknown):
				got = unknown.Intent
			case errors.As(err, &several):
				got = several.Intent
			case errors.Is(err, intent.ErrNoIntent):
				continue
			case err != nil:
				t.Fatalf("%q: %v", l.Text, err)
			}
			row, ok := intent.Lookup(got.Name)
			if !ok {
				t.Errorf("%q: the parser answered %s, which has no catalogue row", l.Text, got.Name)
				continue
			}
			d := got.Slot("domain")
			switch {
			case !row.Target && (d != "" || got.Slot("device_class") != ""):
				t.Errorf("%q: the parser gave %s, which needs no target, a domain or device class: %v", l.Text, got.Name, got.Slots)
			case d != "" && len(row.Domains) > 0 && !slices.Contains(row.Domains, d):
				t.Errorf("%q: the parser gave %s domain %s, which its row %v excludes", l.Text, got.Name, d, row.Domains)
			}
			if _, seen := answered[got.Name]; !seen {
				answered[got.Name] = l.Text
			}
		}
	}
	for _, row := range intent.Catalogue() {
		if _, ok := answered[row.Name]; !ok {
			t.Errorf("catalogue row %s (%s) is answered by no sentence of the grammar's sets", row.Name, row.Kind)
		}
	}
}
