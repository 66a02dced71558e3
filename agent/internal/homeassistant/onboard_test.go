package homeassistant

import (
	"errors"
	"testing"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

func TestOnboardFreshInstance(t *testing.T) {
	_, ts := startSim(t, hasim.Options{Fresh: true})
	ctx := testContext(t)
	c := New(ts.URL, "", Options{})
	if done, err := c.Onboarded(ctx); err != nil || done {
		t.Fatalf("fresh instance: Onboarded = %v, %v", done, err)
	}
	if err := c.Ping(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Ping without a token = %v, want ErrUnauthorized", err)
	}
	owner := Owner{Name: "Owner", Username: "owner", Password: "a long random password", Language: "en"}
	long, err := c.Onboard(ctx, owner, "homeplane-agent", 3650)
	if err != nil || long == "" {
		t.Fatalf("Onboard = %q, %v", long, err)
	}
	c.SetToken(long)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping with the long-lived token: %v", err)
	}
	if _, err := c.Registry(ctx); err != nil {
		t.Fatalf("WebSocket with the long-lived token: %v", err)
	}
	if done, err := c.Onboarded(ctx); err != nil || !done {
		t.Fatalf("after onboarding: Onboarded = %v, %v", done, err)
	}
	if _, err := c.Onboard(ctx, owner, "homeplane-agent", 3650); !errors.Is(err, ErrOnboarded) {
		t.Fatalf("second Onboard = %v, want ErrOnboarded", err)
	}
}

func TestOnboardAnOnboardedInstance(t *testing.T) {
	_, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, "", Options{})
	_, err := c.Onboard(testContext(t), Owner{Name: "O", Username: "o", Password: "p", Language: "en"}, "homeplane-agent", 10)
	if !errors.Is(err, ErrOnboarded) {
		t.Fatalf("Onboard = %v, want ErrOnboarded", err)
	}
}
