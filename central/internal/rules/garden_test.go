package rules

import (
	"context"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestGardenHouseQuestions holds the question rules of ADR 0060: a door's
// contact sensor over its lock, a device's or the home's own measure
// sensor, a sensor's name said alone, an alarm never asked as on, a short
// name before the state, "temp", "back", a room that stands open.
func TestGardenHouseQuestions(t *testing.T) {
	pool, villa, condo := loadHome(t, "pool_home.json"), loadHome(t, "villa_home.json"), loadHome(t, "condo_home.json")
	p := New(Options{})
	for _, tt := range []struct {
		reg   *intent.Index
		text  string
		want  intent.Name
		slots map[string]any
	}{
		{pool, "is the back door open", intent.GetState, map[string]any{"name": "Back Door Sensor", "state": "on"}},
		{pool, "is the back door closed", intent.GetState, map[string]any{"name": "Back Door Sensor", "state": "off"}},
		{pool, "is the back door locked", intent.GetState, map[string]any{"name": "Back Door", "domain": "lock", "state": "locked"}},
		// no contact sensor: the lock is asked as before
		{villa, "is the front door open", intent.GetState, map[string]any{"name": "Front Door", "domain": "lock", "state": "open"}},
		{pool, "how much power is the ev charger using", intent.GetState, map[string]any{"name": "EV Charger Power"}},
		{pool, "how much power is the house using", intent.GetState, map[string]any{"name": "House Power"}},
		{pool, "how much power are we using", intent.GetState, map[string]any{"domain": "sensor", "device_class": "power"}},
		{pool, "home battery level", intent.GetState, map[string]any{"name": "Home Battery"}},
		{pool, "how full is the home battery", intent.GetState, map[string]any{"name": "Home Battery"}},
		{pool, "is the burglar alarm on", intent.GetState, map[string]any{"name": "burglar alarm"}},
		{pool, "is the alarm set", intent.GetState, map[string]any{"name": "House Alarm"}},
		{pool, "is the pump running", intent.GetState, map[string]any{"name": "Pool Pump", "state": "on"}},
		{pool, "whats the pool temp", intent.GetState, map[string]any{"name": "Pool Temperature"}},
		{pool, "is ben back yet", intent.GetState, map[string]any{"domain": "person", "name": "Ben", "state": "home"}},
		{pool, "is the garage open", intent.GetState, map[string]any{"area": "Garage", "domain": "cover", "state": "open"}},
		// the question's short name stops at a word that is no state
		{condo, "what's the desk plug power?", intent.GetState, map[string]any{"name": "Desk Plug Power"}},
	} {
		got, err := p.Parse(context.Background(), tt.text, tt.reg, intent.Context{})
		if err != nil || got.Name != tt.want || !slotsMatch(tt.slots, got.Slots, false) {
			t.Errorf("Parse(%q) = %s %v, %v; want %s %v", tt.text, got.Name, got.Slots, err, tt.want, tt.slots)
		}
	}
	for _, text := range []string{"ev charger", "turn on the pool pomp"} {
		if got, err := p.Parse(context.Background(), text, pool, intent.Context{}); err == nil {
			t.Errorf("Parse(%q) = %s %v, want nothing read", text, got.Name, got.Slots)
		}
	}
}
