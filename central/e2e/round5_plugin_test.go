package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestAttacksRound5Plugin attacks through a parser plugin in an attacker's
// hands (testdata/hostileplugin): sensitive actions it chooses, numbers no
// device takes, a timer that overflows, slots of a mebibyte and by the
// thousand, and a plugin that never answers. Central's binary runs the
// plugin for alice's home, whose agent drives hasim's demo home.
func TestAttacksRound5Plugin(t *testing.T) {
	c := startCentral(t, "--parser-plugin", buildHostilePlugin(t), "--command-timeout", "3s")
	a, say, newestAudit := aliceSpeaks(t, c, homeplanev1.Pipeline_PIPELINE_PLUGIN)
	// entity reads an entity's state and attributes from hasim.
	entity := func(t *testing.T, id string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, a.haURL+"/api/states/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+a.haToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct {
			State      string         `json:"state"`
			Attributes map[string]any `json:"attributes"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		delete(st.Attributes, "friendly_name")
		return fmt.Sprint(st.State, st.Attributes)
	}
	watched := []string{"light.kitchen_ceiling", "lock.front_door", "climate.thermostat"}
	// notDone says text and fails unless it is no success and changed none
	// of the watched entities, within bound.
	notDone := func(text string, bound time.Duration) func(t *testing.T) {
		return func(t *testing.T) {
			before := map[string]string{}
			for _, id := range watched {
				before[id] = entity(t, id)
			}
			start := time.Now()
			r, err := say(text)
			if d := time.Since(start); d > bound {
				t.Errorf("answered in %v, want within %v", d, bound)
			}
			switch {
			case err != nil && connect.CodeOf(err) == connect.CodeInternal:
				t.Errorf("%q: %v", text, err)
			case err == nil && r.GetSuccess():
				t.Errorf("%q succeeded: %q, targets %v", text, r.GetSpeech(), r.GetTargets())
			}
			for _, id := range watched {
				if after := entity(t, id); after != before[id] {
					t.Errorf("%s changed: %s → %s", id, before[id], after)
				}
			}
		}
	}
	// auditedSlots is the size of the slots of the newest audit record
	// whose text holds text.
	auditedSlots := func(t *testing.T, text string) int {
		t.Helper()
		b, _ := json.Marshal(newestAudit(t, text).GetSlots().AsMap())
		return len(b)
	}

	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"plugin/unlocks the front door it chose", notDone("unlock the kitchen light", 10*time.Second)},
		{"plugin/a brightness of 10³⁰⁰", notDone("bright kitchen", 10*time.Second)},
		{"plugin/a brightness that is not a number", notDone("nan kitchen", 10*time.Second)},
		{"plugin/temperatures of plus and minus 10⁹ degrees", func(t *testing.T) {
			notDone("hot in here", 10*time.Second)(t)
			notDone("cold in here", 10*time.Second)(t)
		}},
		{"plugin/a timer of 10⁹ hours", notDone("timer please", 10*time.Second)},
		{"plugin/a name of a mebibyte kept in the audit log", func(t *testing.T) {
			notDone("big name", 10*time.Second)(t)
			if n := auditedSlots(t, "big name"); n > 8<<10 {
				t.Errorf("the audit record keeps %d bytes of slots", n)
			}
		}},
		{"plugin/ten thousand slots kept in the audit log", func(t *testing.T) {
			_, _ = say("many slots")
			if n := auditedSlots(t, "many slots"); n > 8<<10 {
				t.Errorf("the audit record keeps %d bytes of slots", n)
			}
		}},
		{"plugin/an entity id of a device the home lacks", notDone("other light on", 10*time.Second)},
		{"plugin/a plugin that never answers", func(t *testing.T) {
			notDone("hang on", 10*time.Second)(t)
			start := time.Now()
			if _, err := say("bright kitchen"); err != nil && connect.CodeOf(err) == connect.CodeInternal {
				t.Errorf("the next sentence: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the next sentence took %v", d)
			}
		}},
	}
	for _, row := range rows {
		t.Run(row.name, row.run)
	}
}

// buildHostilePlugin builds testdata/hostileplugin for one test.
func buildHostilePlugin(t *testing.T) string {
	t.Helper()
	bin := t.TempDir() + "/hostileplugin"
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/hostileplugin").CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	return bin
}
