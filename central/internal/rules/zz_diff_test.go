package rules

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

func TestZZDump(t *testing.T) {
	out := os.Getenv("DUMP_OUT")
	if out == "" {
		t.Skip()
	}
	homes, _ := filepath.Glob("testdata/*_home.json")
	homes = append(homes, "testdata/ha-dev/fixtures.json", "../intent/testdata/cabin_home.json", "../intent/testdata/demo_home.json")
	var texts []string
	seen := map[string]bool{}
	files, _ := filepath.Glob("testdata/*.jsonl")
	files = append(files, "testdata/ha-dev/dev.jsonl", "../intent/testdata/negative.jsonl", "/tmp/p5/more.txt")
	for _, f := range files {
		g, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(g)
		for sc.Scan() {
			line := sc.Text()
			var l struct{ Text string }
			if json.Unmarshal([]byte(line), &l) != nil || l.Text == "" {
				l.Text = line
			}
			if !seen[l.Text] && strings.TrimSpace(l.Text) != "" {
				seen[l.Text] = true
				texts = append(texts, l.Text)
			}
		}
		g.Close()
	}
	sort.Strings(texts)
	w, _ := os.Create(out)
	defer w.Close()
	p := New(Options{})
	for _, h := range homes {
		reg, err := intent.LoadFixtureFile(h)
		if err != nil {
			t.Fatal(h, err)
		}
		for _, tx := range texts {
			in, err := p.Parse(context.Background(), tx, reg, intent.Context{Area: ""})
			ks := make([]string, 0)
			for k, v := range in.Slots {
				ks = append(ks, fmt.Sprintf("%s=%v", k, v))
			}
			sort.Strings(ks)
			es := ""
			if err != nil {
				es = strings.SplitN(err.Error(), ":", 2)[0]
			}
			fmt.Fprintf(w, "%s\t%s\t%s %s\t%s\n", filepath.Base(h), tx, in.Name, strings.Join(ks, ","), es)
		}
	}
}
