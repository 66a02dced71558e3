package main

import (
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// lastConversation is the conversation id of the last sentence central got.
func (c *cli) lastConversation() string {
	reqs := c.intents.Requests()
	return reqs[len(reqs)-1].ConversationID
}

func TestSayKeepsTheConversation(t *testing.T) {
	c := newCLI(t)
	c.signup("ada@example.com", "ada-password")
	c.ok("homes", "create", "Cabin")

	c.ok("say", "turn on the kitchen lights")
	if got := c.lastConversation(); got != "" {
		t.Fatalf("first sentence continued %q", got)
	}
	first := "conversation-1" // what central answered
	c.clock.advance(4 * time.Minute)
	c.ok("say", "turn it off")
	if got := c.lastConversation(); got != first {
		t.Fatalf("follow-up within 5 minutes went to %q, want %q", got, first)
	}
	// Five minutes after the last sentence, not the first, it is over.
	c.clock.advance(4 * time.Minute)
	c.ok("say", "and the lamp")
	if got := c.lastConversation(); got != first {
		t.Fatalf("follow-up 4 minutes after the last went to %q", got)
	}
	c.clock.advance(5*time.Minute + time.Second)
	c.ok("say", "turn it off")
	if got := c.lastConversation(); got != "" {
		t.Fatalf("sentence after 5 quiet minutes continued %q", got)
	}
	c.ok("say", "--new", "hello")
	if got := c.lastConversation(); got != "" {
		t.Fatalf("--new continued %q", got)
	}
	c.ok("say", "--conversation", "mine", "hello")
	if got := c.lastConversation(); got != "mine" {
		t.Fatalf("--conversation sent %q", got)
	}

	// A voice device's token is another speaker with its own conversation.
	tok := strings.TrimSpace(c.ok("devices", "add", "--name", "Hall speaker", "--area", "hall"))
	c.ok("say", "--device-token", tok, "turn on the lights")
	if got := c.lastConversation(); got != "" {
		t.Fatalf("the device continued the user's conversation %q", got)
	}
}

// say sends an idempotency key; when the connection breaks after central
// carried the sentence out, it retries once with the same key, so the
// command sent to the home is the same one (the agent runs it once).
func TestSayRetriesOnceWithTheSameKey(t *testing.T) {
	c := newCLI(t)
	c.signup("ada@example.com", "ada-password")
	c.ok("homes", "create", "Cabin")
	c.ok("say", "turn on the kitchen lights")
	c.ok("say", "turn on the kitchen lights")
	reqs := c.intents.Requests()
	if len(reqs) != 2 || reqs[0].CommandID == "" || reqs[0].CommandID == reqs[1].CommandID {
		t.Fatalf("two sentences sent command ids %q; want one key each", commandIDs(reqs))
	}

	c.dropProcess.Store(true)
	code, out, errOut := c.run("say", "turn off the kitchen lights")
	if code != exitOK || !strings.Contains(errOut, "retrying with the same idempotency key") || strings.TrimSpace(out) == "" {
		t.Fatalf("say after a lost answer: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	reqs = c.intents.Requests()
	if len(reqs) != 4 || reqs[2].CommandID != reqs[3].CommandID || reqs[2].CommandID == reqs[1].CommandID {
		t.Fatalf("lost answer and retry sent command ids %q; want the last two equal and new", commandIDs(reqs))
	}
}

func commandIDs(reqs []intent.Request) []string {
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		ids[i] = r.CommandID
	}
	return ids
}

func TestHelpSay(t *testing.T) {
	c := newCLI(t)
	out := c.ok("help", "say")
	for _, want := range []string{"--conversation", "--language", "--device-token", "5 minutes"} {
		if !strings.Contains(out, want) {
			t.Errorf("homectl help say lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "instance start") {
		t.Errorf("homectl help say prints every command:\n%s", out)
	}
}

func TestPolicyCommands(t *testing.T) {
	c := newCLI(t)
	c.signup("bo@example.com", "bo-password")
	var created struct{ Home struct{ ID string } }
	decode(t, c.ok("homes", "create", "Cabin", "--json"), &created)
	homeID := created.Home.ID

	for _, name := range []string{"deny", "confirm", "allow"} {
		if out := c.ok("policy", "set", name); !strings.Contains(out, "now "+name) {
			t.Errorf("policy set %s said %q", name, out)
		}
		var shown struct {
			Policy string `json:"sensitive_policy"`
		}
		decode(t, c.ok("policy", "show", "--json"), &shown)
		if want := "SENSITIVE_POLICY_" + strings.ToUpper(name); shown.Policy != want {
			t.Errorf("policy set %s: central keeps %q", name, shown.Policy)
		}
		if out := c.ok("policy"); !strings.Contains(out, homeID) || !strings.Contains(out, name) {
			t.Errorf("policy show after set %s:\n%s", name, out)
		}
	}
	c.fails(exitUsage, "choose allow, confirm, deny", "policy", "set", "maybe")
	c.fails(exitUsage, "unknown policy command", "policy", "swap")
	c.fails(exitError, "not_found", "policy", "set", "deny", "--home", "home-999")
}
