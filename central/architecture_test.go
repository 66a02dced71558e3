// Package central_test checks what holds for the repository as a whole.
package central_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// moduleSection matches the heading of a module's section in
// docs/architecture.md, such as "## Central (`central/`)".
var moduleSection = regexp.MustCompile("^## .*\\(`([a-z]+)/`\\)")

var backticked = regexp.MustCompile("`([^`]+)`")

// documented returns, per module directory, the package paths the first
// column of its section's tables names.
func documented(t *testing.T, doc string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	module := ""
	for line := range strings.Lines(doc) {
		if m := moduleSection.FindStringSubmatch(line); m != nil {
			module = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			module = ""
		}
		if module == "" || !strings.HasPrefix(line, "| ") {
			continue
		}
		first := strings.Split(line, "|")[1]
		for _, m := range backticked.FindAllStringSubmatch(first, -1) {
			out[module] = append(out[module], strings.TrimSuffix(m[1], "/"))
		}
	}
	return out
}

// packages returns the directories below root holding Go files (test-only
// packages such as the end-to-end tests count).
func packages(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		if rel != "." && !slices.Contains(out, filepath.ToSlash(rel)) {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestArchitectureListsEveryPackage keeps docs/architecture.md honest: every
// package of the three modules has its line, and every line names a package
// that exists.
func TestArchitectureListsEveryPackage(t *testing.T) {
	doc, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := documented(t, string(doc))
	for _, module := range []string{"protocol", "central", "agent"} {
		if len(listed[module]) == 0 {
			t.Errorf("docs/architecture.md has no table for the %s module", module)
			continue
		}
		found := packages(t, filepath.Join("..", module))
		for _, p := range found {
			if !slices.Contains(listed[module], p) {
				t.Errorf("package %s/%s has no line in docs/architecture.md", module, p)
			}
		}
		for _, p := range listed[module] {
			if !slices.Contains(found, p) {
				t.Errorf("docs/architecture.md lists %s/%s, which is not a package", module, p)
			}
		}
	}
}
