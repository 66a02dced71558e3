package postgres

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestTurnJSONIsJSONMarshal holds the written-out encoding of a turn to
// encoding/json's, byte for byte.
func TestTurnJSONIsJSONMarshal(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 4, 5, 123456789, time.FixedZone("x", 3600))
	for name, turn := range map[string]intent.Turn{
		"empty":   {},
		"action":  {Intent: intent.Intent{Name: "HassTurnOn", Slots: map[string]any{"name": "kitchen lights", "domain": "light", "area": "Kitchen"}}, Targets: []string{"light.kitchen", "light.counter"}, At: at},
		"pending": {Intent: intent.Intent{Name: "HassTurnOn", Slots: map[string]any{}}, Targets: []string{"lock.front"}, At: at.UTC(), Pending: true, Device: "dev-1"},
		"values": {Intent: intent.Intent{Name: "HassLightSet", Slots: map[string]any{"brightness": 30, "temp": 21.5, "big": int64(1) << 60,
			"on": true, "list": []any{"a", 1}, "nil": nil, "Zed": "z"}}, At: at},
		"escapes": {Intent: intent.Intent{Name: "Hass\"Quote", Slots: map[string]any{"<k>": "a&b", "é": "straße\n", "ctl": "\x00\x7f", "bad": "\xff"}},
			Targets: []string{"light.<x>"}, Device: "d\\e", At: at},
	} {
		t.Run(name, func(t *testing.T) { checkTurnJSON(t, turn) })
	}
	lamp := intent.Intent{Name: "HassTurnOff", Slots: map[string]any{"name": "Lamp"}}
	for name, turn := range map[string]intent.Turn{
		"list": {Intent: lamp, Targets: []string{"light.lamp", "fan.fan"}, At: at,
			Parts: []intent.Part{{Intent: lamp, Targets: []string{"light.lamp"}}, {Intent: intent.Intent{Name: "HassTurnOff"}}}},
		"question": {Intent: lamp, Targets: []string{"light.lamp", "light.lamp_2"}, At: at, Matches: true,
			Options: [][]string{{"light.lamp"}, nil, {}, {"light.<2>"}}},
	} {
		t.Run(name, func(t *testing.T) { checkTurnJSON(t, turn) })
	}
	if _, err := turnJSON(intent.Turn{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}); err == nil {
		t.Error("a time past year 9999 encoded")
	}
}

func FuzzTurnJSON(f *testing.F) {
	f.Add("HassTurnOn", "name", "kitchen <lights>", "light.kitchen", "dev", int64(30), true)
	f.Fuzz(func(t *testing.T, name, key, value, target, device string, n int64, pending bool) {
		checkTurnJSON(t, intent.Turn{Intent: intent.Intent{Name: intent.Name(name), Slots: map[string]any{key: value, key + "n": int(n), "f": float64(n) / 7}},
			Targets: []string{target, value}, At: time.Unix(n%(1<<35), n%1e9), Pending: pending, Device: device})
	})
}

func checkTurnJSON(t *testing.T, turn intent.Turn) {
	t.Helper()
	want, wantErr := json.Marshal(turn)
	got, err := turnJSON(turn)
	if (err != nil) != (wantErr != nil) || string(got) != string(want) {
		t.Fatalf("turnJSON\n %s, %v\nencoding/json\n %s, %v", got, err, want, wantErr)
	}
}

// TestTurnJSONKnowsEveryField fails when a field is added to a turn: the
// written-out encoding would leave it out of every stored turn. A field
// tagged json:"-" is stored by neither.
func TestTurnJSONKnowsEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[intent.Turn]():   {"Intent", "Targets", "At", "Pending", "Device", "Parts", "Options", "Matches"},
		reflect.TypeFor[intent.Part]():   {"Intent", "Targets"},
		reflect.TypeFor[intent.Intent](): {"Name", "Slots"},
	} {
		var got []string
		for f := range typ.Fields() {
			if f.Tag.Get("json") != "-" {
				got = append(got, f.Name)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s has fields %v; turnJSON writes %v: teach it the new ones", typ, got, want)
		}
	}
}
