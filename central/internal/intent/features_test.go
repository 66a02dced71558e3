package intent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/homeplane/homeplane/central/internal/intent"
)

// TestMowerAndFanFeatures holds what Home Assistant's intents do with an
// entity's supported_features (ADR 0068): a mower that cannot dock is not
// sent to its dock (the intent requires DOCK) and the answer is that no
// device can do it; a fan's speed is fan.turn_on with the percentage, so a
// fan without SET_SPEED still turns on.
func TestMowerAndFanFeatures(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "rules", "testdata", "terrace_home.json"))
	if err != nil {
		t.Fatal(err)
	}
	var home map[string]any
	if err := json.Unmarshal(raw, &home); err != nil {
		t.Fatal(err)
	}
	for _, e := range home["entities"].([]any) {
		e := e.(map[string]any)
		switch e["id"] {
		case "lawn_mower.automower":
			e["attributes"] = map[string]any{"supported_features": 1} // START_MOWING only
		case "fan.extractor_fan":
			e["attributes"] = map[string]any{"supported_features": 16 | 32} // TURN_OFF, TURN_ON
		}
	}
	raw, _ = json.Marshal(home)
	reg, err := intent.LoadFixtures(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		text string
		want []string // nil: nothing acts
	}{
		{"mow the lawn", []string{"lawn_mower.start_mowing [lawn_mower.automower] map[]"}},
		{"send the mower back to its dock", nil},
		{"set the extractor fan to 40 percent", []string{"fan.turn_on [fan.extractor_fan] map[percentage:40]"}},
		{"set the ceiling fan to 0 percent", []string{"fan.turn_on [fan.ceiling_fan] map[percentage:0]"}},
	} {
		resp, got := processIn(t, reg, "", c.text)
		if !slices.Equal(got, c.want) {
			t.Errorf("%q called %v, want %v (%s %q)", c.text, got, c.want, resp.ErrorCode, resp.Speech)
		}
		if c.want == nil && (resp.Success || resp.ErrorCode != intent.CodeNoMatch) {
			t.Errorf("%q answered %s %q, want no_match", c.text, resp.ErrorCode, resp.Speech)
		}
	}
}
