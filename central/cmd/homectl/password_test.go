package main

import (
	"os"
	"strings"
	"testing"
)

func TestPasswordChange(t *testing.T) {
	c := newCLI(t)
	c.signup("ivy@example.com", "ivy-password")

	// Refused changes keep the session.
	c.fails(exitError, "current password is wrong", "password", "change", "--current", "not-my-password", "--new", "ivy-new-password")
	c.fails(exitUsage, envNewPassword, "password", "change", "--current", "ivy-password")
	c.ok("homes")

	// From the environment, as a script would.
	c.env[envPassword] = "ivy-password"
	c.env[envNewPassword] = "ivy-new-password"
	out := c.ok("password", "change")
	if !strings.Contains(out, "Every session of ivy@example.com has ended") || !strings.Contains(out, "homectl login --email ivy@example.com") {
		t.Errorf("change said %q", out)
	}
	if _, err := os.Stat(c.store.path()); !os.IsNotExist(err) {
		t.Errorf("tokens of the ended session kept: %v", err)
	}
	c.fails(exitError, "not logged in", "homes")
	c.fails(exitError, "not logged in", "password", "change")
	c.fails(exitError, "invalid email or password", "login", "--email", "ivy@example.com", "--password", "ivy-password")
	c.ok("login", "--email", "ivy@example.com", "--password", "ivy-new-password")

	// From the flags, with --json.
	delete(c.env, envPassword)
	delete(c.env, envNewPassword)
	if out := c.ok("password", "change", "--current", "ivy-new-password", "--new", "ivy-third-password", "--json"); out != "{}\n" {
		t.Errorf("change --json printed %q", out)
	}
	c.ok("login", "--email", "ivy@example.com", "--password", "ivy-third-password")
}

func TestPasswordForgotAndReset(t *testing.T) {
	c := newCLI(t)
	c.signup("jo@example.com", "jo-password")
	user, err := c.store.load()
	if err != nil {
		t.Fatal(err)
	}

	known := c.ok("password", "forgot", "--email", "jo@example.com")
	unknown := c.ok("password", "forgot", "--email", "nobody@example.com")
	// The answer must not tell who has an account.
	if strings.ReplaceAll(known, "jo@example.com", "E") != strings.ReplaceAll(unknown, "nobody@example.com", "E") {
		t.Errorf("answers differ:\n%s%s", known, unknown)
	}
	tokens := c.accounts.ResetTokens()
	if len(tokens) != 1 {
		t.Fatalf("reset tokens %v, want one for %s", tokens, user.UserID)
	}
	var token string
	for tok, id := range tokens {
		if id != user.UserID {
			t.Fatalf("reset token for %s, want %s", id, user.UserID)
		}
		token = tok
	}

	c.fails(exitUsage, envNewPassword, "password", "reset", "--token", token)
	c.env[envNewPassword] = "jo-reset-password"
	if out := c.ok("password", "reset", "--token", token); !strings.Contains(out, "log in with the new password") {
		t.Errorf("reset said %q", out)
	}
	c.fails(exitError, "unauthenticated", "password", "reset", "--token", token)
	c.fails(exitError, "unauthenticated", "password", "reset", "--token", "reset-bogus", "--new", "whatever-password")
	c.fails(exitError, "invalid email or password", "login", "--email", "jo@example.com", "--password", "jo-password")
	c.ok("login", "--email", "jo@example.com", "--password", "jo-reset-password")
}
