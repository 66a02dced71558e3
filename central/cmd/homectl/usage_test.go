package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/usage"
)

// oneDayUsage is a hand-written rpc.DailyUsage: one day of use for any scope.
type oneDayUsage struct{}

func (oneDayUsage) Daily(_ context.Context, since, _ time.Time, _ usage.Scope) ([]usage.Day, error) {
	return []usage.Day{{DayUsage: usage.DayUsage{Day: since.UTC().Truncate(24 * time.Hour), CPUCoreHours: 1.25, Intents: 7}, Price: 0.5}}, nil
}

func (oneDayUsage) Currency() string { return "EUR" }

func TestUsageCommand(t *testing.T) {
	c := newCLI(t)
	c.signup("dora@example.com", "dora-password")
	var created struct {
		Home struct{ ID string } `json:"home"`
	}
	decode(t, c.ok("homes", "create", "Loft", "--json"), &created)
	out := c.ok("usage", "--since", "2026-03-01", "--until", "2026-03-02")
	if !strings.Contains(out, "PRICE (EUR)") || !strings.Contains(out, "2026-03-01") || !strings.Contains(out, "1.2500") || !strings.Contains(out, "7") {
		t.Errorf("usage table:\n%s", out)
	}
	if out := c.ok("usage", "--home", created.Home.ID, "--json"); !strings.Contains(out, `"intents": "7"`) && !strings.Contains(out, `"intents": 7`) {
		t.Errorf("usage --json:\n%s", out)
	}
	c.fails(exitError, "not found", "usage", "--home", "00000000-0000-4000-8000-00000000dead")
	c.fails(exitUsage, "--since", "usage", "--since", "March")
	c.fails(exitUsage, "takes no arguments", "usage", "today")
}
