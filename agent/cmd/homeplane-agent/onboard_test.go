package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
)

func TestOnboardHAKeepsTheTokenOnTheHomeServer(t *testing.T) {
	sim := hasim.New(nil, hasim.Options{Fresh: true})
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	ha := homeassistant.New(ts.URL, "", homeassistant.Options{})

	token, err := onboardHA(ctx, ha, dir, slog.New(slog.DiscardHandler))
	if err != nil || token == "" {
		t.Fatalf("onboardHA = %q, %v", token, err)
	}
	if err := ha.Ping(ctx); err != nil {
		t.Fatalf("the client does not use the minted token: %v", err)
	}
	for _, name := range []string{haTokenFile, haOwnerFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", name, err, st.Mode().Perm())
		}
	}
	if got, err := loadHAToken(dir); err != nil || got != token {
		t.Fatalf("loadHAToken = %q, %v", got, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, haOwnerFile))
	if err != nil {
		t.Fatal(err)
	}
	var owner struct{ Username, Password string }
	if err := json.Unmarshal(b, &owner); err != nil || owner.Username == "" || len(owner.Password) < 20 {
		t.Fatalf("owner file %s: %v", b, err)
	}

	// A restarted agent finds the token; an instance someone else
	// onboarded is left alone.
	if _, err := onboardHA(ctx, homeassistant.New(ts.URL, "", homeassistant.Options{}), t.TempDir(), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "onboarded already") {
		t.Fatalf("second onboarding = %v", err)
	}
	if got, err := loadHAToken(t.TempDir()); err != nil || got != "" {
		t.Fatalf("loadHAToken without a file = %q, %v", got, err)
	}
}
