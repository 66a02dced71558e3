package intent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/rules"
)

// NegativeHomes are the homes the negative set is written for, by the name
// its lines use.
var negativeHomes = map[string]string{
	"demo":       filepath.Join("testdata", "demo_home.json"),
	"cabin":      filepath.Join("testdata", "cabin_home.json"),
	"condo":      filepath.Join("..", "rules", "testdata", "condo_home.json"),
	"flat":       filepath.Join("..", "rules", "testdata", "flat_home.json"),
	"loft":       filepath.Join("..", "rules", "testdata", "loft_home.json"),
	"family":     filepath.Join("..", "rules", "testdata", "family_home.json"),
	"barn":       filepath.Join("..", "rules", "testdata", "barn_home.json"),
	"duplex":     filepath.Join("..", "rules", "testdata", "duplex_home.json"),
	"narrowboat": filepath.Join("..", "rules", "testdata", "narrowboat_home.json"),
	"villa":      filepath.Join("..", "rules", "testdata", "villa_home.json"),
	"guesthouse": filepath.Join("..", "rules", "testdata", "guesthouse_home.json"),
	"sharehouse": filepath.Join("..", "rules", "testdata", "sharehouse_home.json"),
	"pool":       filepath.Join("..", "rules", "testdata", "pool_home.json"),
	"terrace":    filepath.Join("..", "rules", "testdata", "terrace_home.json"),
}

type negativeLine struct {
	Home, Domain, Text string
}

func readNegative(tb testing.TB) []negativeLine {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", "negative.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []negativeLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l negativeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			tb.Fatalf("negative.jsonl: %v", err)
		}
		out = append(out, l)
	}
	return out
}

// TestNegativeSetNeverExecutes runs every sentence that names something its
// home does not have, or is ambiguous about a sensitive action: none may
// reach the home.
func TestNegativeSetNeverExecutes(t *testing.T) {
	lines := readNegative(t)
	if len(lines) < 300 {
		t.Fatalf("negative set holds %d sentences, want at least 300", len(lines))
	}
	regs := map[string]*intent.Index{}
	for name, path := range negativeHomes {
		reg, err := intent.LoadFixtureFile(path)
		if err != nil {
			t.Fatal(err)
		}
		regs[name] = reg
	}
	codes := map[string]int{}
	for _, l := range lines {
		reg := regs[l.Home]
		if reg == nil {
			t.Fatalf("%q: unknown home %q", l.Text, l.Home)
		}
		exec := &fakeExecutor{}
		e := intent.NewEngine(rules.New(rules.Options{}), fakeRegistries{reg}, exec, intent.Options{})
		resp, err := e.Process(context.Background(), intent.Request{HomeID: "home-1", Text: l.Text, DeviceID: "d1"})
		if err != nil {
			t.Fatalf("%s: %q: %v", l.Home, l.Text, err)
		}
		if len(exec.cmds) > 0 || resp.Success {
			t.Errorf("%s: %q executed %v: %q", l.Home, l.Text, calledEntities(exec), resp.Speech)
		}
		codes[resp.ErrorCode]++
	}
	t.Logf("%d sentences, answers by code: %v", len(lines), codes)
}
