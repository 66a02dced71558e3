package topic

import (
	"strings"
	"testing"
)

const home = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"

func TestForParseRoundTrip(t *testing.T) {
	for _, k := range Kinds {
		tp := For(home, k)
		if !strings.HasPrefix(tp, Prefix) {
			t.Fatalf("For(%q) = %q, want prefix %q", k, tp, Prefix)
		}
		h, got, err := Parse(tp)
		if err != nil || h != home || got != k {
			t.Fatalf("Parse(%q) = %q, %q, %v", tp, h, got, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, tp := range map[string]string{
		"empty":         "",
		"other prefix":  "zigbee2mqtt/bridge",
		"no kind":       Prefix + home,
		"unknown kind":  Prefix + home + "/shell",
		"extra level":   Prefix + home + "/cmd/x",
		"wildcard home": Prefix + "+/cmd",
		"hash home":     Prefix + "#",
		"upper case":    Prefix + strings.ToUpper(home) + "/cmd",
		"sys":           "$SYS/broker/clients",
		"long home":     Prefix + strings.Repeat("a", MaxHomeIDLen+1) + "/cmd",
		"empty home":    Prefix + "/cmd",
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Parse(tp); err == nil {
				t.Fatalf("Parse(%q) accepted", tp)
			}
		})
	}
}

func TestAgentMay(t *testing.T) {
	other := "0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e"
	cases := []struct {
		name   string
		access Access
		topic  string
		retain bool
		want   bool
	}{
		{"own command subscribe", Subscribe, For(home, Command), false, true},
		{"own result publish", Publish, For(home, Result), false, true},
		{"own presence retained", Publish, For(home, Presence), true, true},
		{"own presence not retained", Publish, For(home, Presence), false, false},
		{"own result retained", Publish, For(home, Result), true, false},
		{"own entities publish", Publish, For(home, Entities), false, true},
		{"own telemetry publish", Publish, For(home, Telemetry), false, true},
		{"publish command to self", Publish, For(home, Command), false, false},
		{"subscribe own result", Subscribe, For(home, Result), false, false},
		{"other home command subscribe", Subscribe, For(other, Command), false, false},
		{"other home result publish", Publish, For(other, Result), false, false},
		{"plus wildcard over homes", Subscribe, Prefix + "+/cmd", false, false},
		{"hash wildcard", Subscribe, "#", false, false},
		{"hash under own home", Subscribe, Prefix + home + "/#", false, false},
		{"plus kind under own home", Subscribe, Prefix + home + "/+", false, false},
		{"sys", Subscribe, "$SYS/#", false, false},
		{"shared subscription", Subscribe, "$share/g/" + For(home, Command), false, false},
		{"outside prefix", Publish, "homeassistant/status", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := AgentMay(home, c.access, c.topic, c.retain); got != c.want {
				t.Fatalf("AgentMay(%q) = %v, want %v", c.topic, got, c.want)
			}
		})
	}
	if AgentMay("", Subscribe, For(home, Command), false) {
		t.Fatal("empty home id allowed")
	}
}

func TestAgentWillMay(t *testing.T) {
	if !AgentWillMay(home, For(home, Presence), true) {
		t.Fatal("own retained presence Will refused")
	}
	if AgentWillMay(home, For(home, Presence), false) {
		t.Fatal("unretained Will allowed")
	}
	if AgentWillMay(home, For("other", Presence), true) {
		t.Fatal("other home's presence Will allowed")
	}
	if AgentWillMay(home, For(home, Result), true) {
		t.Fatal("Will on result topic allowed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(For(home, Command))
	f.Add("$SYS/x")
	f.Add(Prefix + "+/cmd")
	f.Fuzz(func(t *testing.T, s string) {
		h, k, err := Parse(s)
		if err != nil {
			return
		}
		if For(h, k) != s {
			t.Fatalf("Parse(%q) = %q %q, which rebuilds to %q", s, h, k, For(h, k))
		}
	})
}

func TestMaxPayload(t *testing.T) {
	for _, k := range Kinds {
		if MaxPayload(k) <= 0 || MaxPayload(k) > 1<<20 {
			t.Errorf("MaxPayload(%s) = %d, want 1 byte to 1 MiB", k, MaxPayload(k))
		}
	}
	if got := MaxPayload(Presence); got != 1<<10 {
		t.Errorf("presence (and so the Will) may carry %d bytes, want 1 KiB", got)
	}
	if got := MaxPayload("nonsense"); got != 0 {
		t.Errorf("MaxPayload of an unknown kind = %d, want 0", got)
	}
}
