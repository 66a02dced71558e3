package topic

import "testing"

// AgentRules and AgentMay are one table: every rule is allowed, and every
// topic of the home that no rule lists is denied.
func TestAgentRulesMatchAgentMay(t *testing.T) {
	for _, home := range []string{"h1", "other"} {
		rules := AgentRules(home)
		if len(rules) != len(Kinds) {
			t.Fatalf("%d rules, want one per kind (%d)", len(rules), len(Kinds))
		}
		listed := func(a Access, name string, retain bool) bool {
			for _, r := range rules {
				if r.Access == a && r.Topic == name && r.Retain == retain {
					return true
				}
			}
			return false
		}
		for _, owner := range []string{"h1", "other"} {
			for _, k := range Kinds {
				for _, a := range []Access{Subscribe, Publish} {
					for _, retain := range []bool{false, true} {
						name := For(owner, k)
						if a == Subscribe && retain {
							continue
						}
						if got, want := listed(a, name, retain), AgentMay(home, a, name, retain); got != want {
							t.Errorf("home %s access %d %s retain %v: rules %v, AgentMay %v", home, a, name, retain, got, want)
						}
					}
				}
			}
		}
	}
	if AgentRules("bad/home") != nil {
		t.Error("rules for an invalid home id")
	}
}
