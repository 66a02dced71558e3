package intent

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestCatalogueRows checks that each row carries what its kind needs and
// nothing the engine would ignore.
func TestCatalogueRows(t *testing.T) {
	seen := map[Name]bool{}
	for _, e := range catalogue {
		if seen[e.Name] {
			t.Errorf("%s: two rows", e.Name)
		}
		seen[e.Name] = true
		actionFuncs := e.plan != nil && e.done != nil
		switch e.Kind {
		case KindAction:
			if !actionFuncs || e.answer != nil || e.local != nil {
				t.Errorf("%s: an action row needs plan and done, and nothing else", e.Name)
			}
			if len(e.Domains) == 0 && !e.list {
				t.Errorf("%s: an action row names the domains it acts on", e.Name)
			}
		case KindQuery:
			if e.answer == nil || e.plan != nil || e.done != nil || e.local != nil {
				t.Errorf("%s: a query row needs answer, and nothing else", e.Name)
			}
		case KindLocal:
			if e.local == nil || e.plan != nil || e.answer != nil || e.Target {
				t.Errorf("%s: a local row needs local, and no target", e.Name)
			}
		case KindTimer, KindUnsupported:
			if e.plan != nil || e.done != nil || e.answer != nil || e.local != nil || len(e.Domains) > 0 {
				t.Errorf("%s: a %s row carries no functions or domains", e.Name, e.Kind)
			}
			if e.Kind == KindTimer && e.Target {
				t.Errorf("%s: timers need no target", e.Name)
			}
		default:
			t.Errorf("%s: kind %d", e.Name, e.Kind)
		}
		if (e.Kind == KindAction || e.Kind == KindQuery) != e.Target && e.Kind != KindUnsupported {
			t.Errorf("%s: Target is %v for a %s row", e.Name, e.Target, e.Kind)
		}
	}
	if row, ok := Lookup("HassSomethingNew"); ok || row.Kind != KindUnsupported || !row.Target || row.Name != "HassSomethingNew" {
		t.Errorf("an unknown name looks up as %+v, %v; want an unsupported row that needs a target", row, ok)
	}
}

// TestEveryNameHasARow checks that every Name constant declared in
// catalogue.go has a row, so a name cannot be added without one.
func TestEveryNameHasARow(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "catalogue.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Name" {
				continue
			}
			for _, val := range v.Values {
				lit, ok := val.(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s: a Name constant is a string literal", v.Names[0].Name)
				}
				name, _ := strconv.Unquote(lit.Value)
				n++
				if _, ok := Lookup(Name(name)); !ok {
					t.Errorf("%s (%s) has no catalogue row", v.Names[0].Name, name)
				}
			}
		}
	}
	if n != len(catalogue) {
		t.Errorf("%d Name constants, %d rows", n, len(catalogue))
	}
}
