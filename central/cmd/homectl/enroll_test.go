package main

import (
	"context"
	"strings"
	"testing"
)

func TestRevokeEnrollmentTokens(t *testing.T) {
	c := newCLI(t)
	c.signup("kim@example.com", "kim-password")
	c.ok("homes", "create", "Cabin")
	ctx := context.Background()

	first := strings.TrimSpace(c.ok("enroll-token"))
	second := strings.TrimSpace(c.ok("enroll-token", "create", "--ttl", "2h"))
	if out := c.ok("enroll-token", "revoke"); !strings.HasPrefix(out, "Revoked 2 unused enrollment token(s) of home ") {
		t.Errorf("revoke said %q", out)
	}
	for _, tok := range []string{first, second} {
		if _, _, err := c.homes.Enroll(ctx, tok, "host", "1.0"); err == nil {
			t.Errorf("revoked token %s still enrolls", tok)
		}
	}
	var none struct{ Revoked int }
	decode(t, c.ok("enroll-token", "revoke", "--json"), &none)
	if none.Revoked != 0 {
		t.Errorf("second revoke --json: %+v", none)
	}
	c.fails(exitUsage, "--ttl goes with enroll-token create only", "enroll-token", "revoke", "--ttl", "1h")
	c.fails(exitUsage, "unknown enroll-token command", "enroll-token", "burn")
}
