package topic

// Access is what a client wants to do with a topic or filter.
type Access int

// The kinds of access an agent can ask for.
const (
	Subscribe Access = iota
	Publish
)

// AgentMay reports whether the agent of home may perform access on name, which
// is a topic name for Publish and a topic filter for Subscribe. retain is the
// publish's retain flag (or, for a Will, the Will's).
//
// The rule denies by default: an agent subscribes only to its own command
// topic, written out in full (no wildcards, no shared subscription), and
// publishes only the agent-side kinds of its own home, retained only where the
// kind is retained. Everything outside Prefix, including $SYS, is denied.
func AgentMay(home string, access Access, name string, retain bool) bool {
	if !ValidHomeID(home) {
		return false
	}
	h, k, err := Parse(name)
	if err != nil || h != home {
		return false
	}
	switch access {
	case Subscribe:
		return k == Command
	case Publish:
		return k.FromAgent() && retain == k.Retained()
	}
	return false
}

// AgentWillMay reports whether an agent of home may register a Will on name:
// only its own presence topic, retained, so the Will marks the home offline.
func AgentWillMay(home, name string, retain bool) bool {
	h, k, err := Parse(name)
	return err == nil && h == home && k == Presence && retain && ValidHomeID(home)
}

// Rule is one permission of an agent, for brokers that take the ACL as a
// list: the exact topic (no wildcards), the access, and the retain flag a
// publish must carry.
type Rule struct {
	Access Access
	Topic  string
	Retain bool
}

// AgentRules lists everything the agent of home may do, the same rules
// AgentMay applies: subscribe to its own command topic, publish the
// agent-side kinds of its own home, retained only where the kind is
// retained. Anything not listed is denied. Nil for an invalid home id.
func AgentRules(home string) []Rule {
	if !ValidHomeID(home) {
		return nil
	}
	rules := make([]Rule, 0, len(Kinds))
	for _, k := range Kinds {
		if k.FromAgent() {
			rules = append(rules, Rule{Access: Publish, Topic: For(home, k), Retain: k.Retained()})
		} else {
			rules = append(rules, Rule{Access: Subscribe, Topic: For(home, k)})
		}
	}
	return rules
}
