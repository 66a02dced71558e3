package main

import (
	"context"
	"strings"
	"testing"
)

func TestAgentRevoke(t *testing.T) {
	c := newCLI(t)
	c.signup("lee@example.com", "lee-password")
	var created struct{ Home struct{ ID string } }
	decode(t, c.ok("homes", "create", "Cabin", "--json"), &created)
	homeID := created.Home.ID
	c.ok("homes", "create", "Flat")

	tok := strings.TrimSpace(c.ok("enroll-token", "--home", homeID))
	if _, _, err := c.homes.Enroll(context.Background(), tok, "host", "1.0"); err != nil {
		t.Fatal(err)
	}
	enrolled := func() bool {
		var shown struct{ Home struct{ Enrolled bool } }
		decode(t, c.ok("homes", "show", homeID, "--json"), &shown)
		return shown.Home.Enrolled
	}
	if !enrolled() {
		t.Fatal("home not enrolled")
	}

	c.fails(exitError, "2 homes", "agent", "revoke")
	out := c.ok("agent", "revoke", "--home", homeID)
	if !strings.Contains(out, homeID) || !strings.Contains(out, "disconnected") || !strings.Contains(out, "enroll again") {
		t.Errorf("agent revoke said %q", out)
	}
	if enrolled() {
		t.Error("home still enrolled after agent revoke")
	}
	c.fails(exitError, "not_found", "agent", "revoke", "--home", "home-999")
}
