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
	if l < 1 {
		return intent.Intent{}, false
	}
	add := false
	verbEnd := 1
	switch s.toks[0] {
	case "add", "put", "append", "include", "insert", "write":
		add = true
	case "check", "cross", "tick", "mark", "complete", "remove", "delete", "strike", "finish":
		if len(s.toks) > 1 && s.toks[1] == "off" {
			verbEnd = 2
		}
	default:
		return intent.Intent{}, false
	}
	// Walk back from "list": its name, a determiner, then prepositions.
	j := l
	for j > verbEnd && !listPreps[s.toks[j-1]] && s.toks[j-1] != "my" && s.toks[j-1] != "the" && s.toks[j-1] != "our" {
		j--
	}
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
	slots := map[string]any{"item": strings.Join(item, " ")}
	shopping := listName == "" || listName == "shopping" ||
		(listName == "grocery" || listName == "groceries") && len(s.reg.EntitiesNamed(listName)) == 0
	if !shopping {
		if ids := s.reg.EntitiesNamed(listName); len(ids) > 0 {
			n, refs := s.reg.Match(s.toks[:l], l-len(strings.Fields(listName)))
			if n > 0 {
				listName = refs[0].Name
			}
		}
		slots["name"] = listName
	}
	switch {
	case add && shopping:
		return intent.Intent{Name: "HassShoppingListAddItem", Slots: slots}, true
	case add:
		return intent.Intent{Name: "HassListAddItem", Slots: slots}, true
	case shopping:
		return intent.Intent{Name: "HassShoppingListCompleteItem", Slots: slots}, true
	}
	return intent.Intent{Name: "HassListCompleteItem", Slots: slots}, true
}
