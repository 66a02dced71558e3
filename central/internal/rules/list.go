package rules

import (
	"strings"

	"github.com/homeplane/homeplane/central/internal/intent"
)

var listPreps = map[string]bool{"to": true, "on": true, "onto": true, "from": true, "in": true, "off": true, "of": true, "into": true}

// list reads "add <item> to my <name> list" and "check <item> off my <name>
// list"; a list without a name, or the shopping list, is the shopping list.
func (s *sentence) list() (intent.Intent, bool) {
	l := -1
	for i, t := range s.toks {
		if t == "list" {
			l = i
		}
	}
	add := false
	verbEnd := 1
	switch s.toks[0] {
	case "add", "put", "append", "include", "insert", "write", "stick", "pop", "chuck", "bung", "jot":
		add = true
		if len(s.toks) > 1 && s.toks[1] == "down" {
			verbEnd = 2 // "jot down eggs on the list"
		}
	case "check", "cross", "tick", "mark", "complete", "remove", "delete", "strike", "finish":
		if len(s.toks) > 1 && s.toks[1] == "off" {
			verbEnd = 2
		}
	default:
		return intent.Intent{}, false
	}
	j := l
	if l < 1 {
		// "add mow the lawn to my chores": a to-do list said by its name alone.
		if j = s.todoNameAtEnd(verbEnd); j < 0 {
			return intent.Intent{}, false
		}
		l = len(s.toks)
	} else {
		// Walk back from "list" over its name.
		for j > verbEnd && !listPreps[s.toks[j-1]] && s.toks[j-1] != "my" && s.toks[j-1] != "the" && s.toks[j-1] != "our" {
			j--
		}
	}
	// Then a determiner, then prepositions.
	listName := s.text(j, l)
	for j > verbEnd && (s.toks[j-1] == "my" || s.toks[j-1] == "the" || s.toks[j-1] == "our") {
		j--
	}
	if j <= verbEnd || !listPreps[s.toks[j-1]] {
		return intent.Intent{}, false
	}
	for j > verbEnd && listPreps[s.toks[j-1]] {
		j--
	}
	item := s.toks[verbEnd:j]
	if n := len(item); n > 2 && item[n-2] == "as" {
		item = item[:n-2]
	}
	if len(item) == 0 {
		return intent.Intent{}, false
	}
	slots := map[string]any{"item": s.spoken(item)}
	shopping := listName == "" || listName == "shopping" ||
		(listName == "grocery" || listName == "groceries") && len(s.reg.EntitiesNamed(listName)) == 0
	if !shopping {
		if ids := s.reg.EntitiesNamed(listName); len(ids) > 0 {
			n, refs := s.reg.Match(s.toks[:l], l-len(strings.Fields(listName)))
			if n > 0 {
				listName = refs[0].Name
			}
		} else if name, ok := s.looseTodo(listName); ok {
			listName = name // "my task list" for a list called "Tasks"
		}
		slots["name"] = listName
	}
	switch {
	case add && shopping:
		return intent.Intent{Name: intent.ShoppingListAddItem, Slots: slots}, true
	case add:
		return intent.Intent{Name: intent.ListAddItem, Slots: slots}, true
	case shopping:
		return intent.Intent{Name: intent.ShoppingListComplete, Slots: slots}, true
	}
	return intent.Intent{Name: intent.ListCompleteItem, Slots: slots}, true
}

// todoNameAtEnd returns where the name of a to-do list that ends the
// sentence begins, or -1.
func (s *sentence) todoNameAtEnd(from int) int {
	for k := from + 1; k < len(s.toks); k++ {
		n, refs := s.reg.Match(s.toks, k)
		if k+n != len(s.toks) {
			continue
		}
		for _, r := range refs {
			if r.Kind == intent.RefEntity && s.reg.Entity(r.Index).GetDomain() == "todo" {
				return k
			}
		}
	}
	return -1
}

// looseTodo finds the to-do list a name means when it is said in the
// singular or plural of the list's own name ("task" for "Tasks", "chore"
// for "Chores"). Only a list is matched, and only one.
func (s *sentence) looseTodo(said string) (string, bool) {
	for _, v := range []string{said + "s", strings.TrimSuffix(said, "s"), said + " list"} {
		if v == said || v == "" {
			continue
		}
		var found []string
		for _, i := range s.reg.EntitiesNamed(v) {
			if e := s.reg.Entity(i); e.GetDomain() == "todo" {
				found = append(found, e.GetName())
			}
		}
		if len(found) == 1 {
			return found[0], true
		}
	}
	return "", false
}
