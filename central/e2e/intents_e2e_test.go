package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// haEntity reads an entity's state and attributes straight from the
// simulated Home Assistant.
func (h *home) haEntity(entityID string) (string, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodGet, h.haURL+"/api/states/"+entityID, nil)
	req.Header.Set("Authorization", "Bearer "+h.haToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("GET /api/states/%s: %s", entityID, resp.Status)
	}
	var st struct {
		State      string         `json:"state"`
		Attributes map[string]any `json:"attributes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return "", nil, fmt.Errorf("decode state of %s: %w", entityID, err)
	}
	return st.State, st.Attributes, nil
}

// haCall calls a Home Assistant service directly, as a user of Home
// Assistant's own interface would, to set an entity up for a sentence.
func (h *home) haCall(t testing.TB, domain, service string, data map[string]any) {
	t.Helper()
	h.haPost(t, "/api/services/"+domain+"/"+service, data)
}

// haPost posts data to Home Assistant's REST API at path and fails unless
// it answers 200 or 201.
func (h *home) haPost(t testing.TB, path string, data map[string]any) {
	t.Helper()
	body, _ := json.Marshal(data)
	req, _ := http.NewRequest(http.MethodPost, h.haURL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.haToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// intentStep is one sentence of TestNewestIntentsEndToEnd: an optional
// setup through Home Assistant, the sentence, the service call Home
// Assistant must receive, and the entity state it must then hold.
type intentStep struct {
	home, text string
	setup      func(t testing.TB, h *home)
	call       string // domain.service Home Assistant must receive
	entity     string
	state      string
	attrs      map[string]float64 // numeric attributes the entity must hold
	// refused: the entity lacks the feature the intent requires
	// (required_features in Home Assistant's intent handler): nothing is
	// called and the answer is that no device can do it.
	refused bool
	// fails: Home Assistant refuses the call (ServiceNotSupported); the
	// answer is not success and the entity is left as it was.
	fails bool
}

// report rewrites an entity's state through the REST API as its
// integration would while it moves or after it changed, with the
// attributes given.
func report(id, state string, attrs map[string]any) func(t testing.TB, h *home) {
	return func(t testing.TB, h *home) {
		h.haPost(t, "/api/states/"+id, map[string]any{"state": state, "attributes": attrs})
	}
}

// synced waits until central's registry holds the entity as Home Assistant
// does (state and supported_features), so a sentence is read against what
// a setup just changed.
func (c *central) synced(t testing.TB, token string, h *home, id string) {
	t.Helper()
	state, attrs, err := h.haEntity(id)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, id+" synced to central", func() bool {
		resp, err := c.homes.ListEntities(context.Background(), authed(token, &homeplanev1.ListEntitiesRequest{HomeId: h.id}))
		if err != nil {
			return false
		}
		for _, e := range resp.Msg.GetEntities() {
			if e.GetEntityId() == id {
				return e.GetState() == state &&
					fmt.Sprint(e.GetAttributes().AsMap()["supported_features"]) == fmt.Sprint(attrs["supported_features"])
			}
		}
		return false
	})
}

// TestNewestIntentsEndToEnd runs the sentences of the newest intents (fan
// speed, stop moving, the lawn mower, watering, garage doors up and down,
// "make sure ... is locked") through central, MQTT, the agent and the
// simulated Home Assistant, and checks what Home Assistant ends up holding.
// The agents run with an allow-list of exactly the domains these sentences
// call, so the agent is shown to pass each service through; a sentence for
// a domain outside it must reach no device.
func TestNewestIntentsEndToEnd(t *testing.T) {
	t.Setenv("HOMEPLANE_ALLOWED_DOMAINS", "fan,cover,valve,lock,lawn_mower")
	homes := map[string]string{
		"pool":    filepath.Join("..", "internal", "rules", "testdata", "pool_home.json"),
		"terrace": filepath.Join("..", "internal", "rules", "testdata", "terrace_home.json"),
	}
	steps := []intentStep{
		// Home Assistant's HassFanSetSpeed is fan.turn_on with the percentage.
		{home: "terrace", text: "set the ceiling fan to 50 percent", call: "fan.turn_on",
			entity: "fan.ceiling_fan", state: "on", attrs: map[string]float64{"percentage": 50}},
		{home: "terrace", text: "set the ceiling fan to 0 percent", call: "fan.turn_on",
			entity: "fan.ceiling_fan", state: "off", attrs: map[string]float64{"percentage": 0}},
		{home: "pool", text: "set the greenhouse fan to 60 percent", call: "fan.turn_on",
			entity: "fan.greenhouse_fan", state: "on", attrs: map[string]float64{"percentage": 60}},
		{home: "terrace", text: "stop the roof blinds", call: "cover.stop_cover",
			// The blinds are on their way down, as their integration
			// reports while they move; stopped, they stay where they are.
			setup: report("cover.roof_blinds", "closing", map[string]any{"friendly_name": "Roof Blinds", "device_class": "blind",
				"supported_features": 1 | 2 | 4 | 8, "current_position": 60, "current_tilt_position": 50}),
			entity: "cover.roof_blinds", state: "open", attrs: map[string]float64{"current_position": 60}},
		{home: "terrace", text: "mow the lawn", call: "lawn_mower.start_mowing",
			entity: "lawn_mower.automower", state: "mowing"},
		{home: "terrace", text: "send the mower back to its dock", call: "lawn_mower.dock",
			entity: "lawn_mower.automower", state: "docked"},
		{home: "terrace", text: "start the automower", call: "lawn_mower.start_mowing",
			entity: "lawn_mower.automower", state: "mowing"},
		{home: "terrace", text: "stop the mower", call: "lawn_mower.dock",
			entity: "lawn_mower.automower", state: "docked"},
		// A mower that can start but not dock (LawnMowerEntityFeature
		// START_MOWING only); a fan without SET_SPEED, which
		// fan.turn_on still turns on; blinds without STOP.
		{home: "terrace", text: "send the automower to its dock", refused: true, call: "lawn_mower.dock",
			setup:  report("lawn_mower.automower", "mowing", map[string]any{"friendly_name": "Automower", "supported_features": 1}),
			entity: "lawn_mower.automower", state: "mowing"},
		{home: "terrace", text: "start the automower", call: "lawn_mower.start_mowing",
			setup:  report("lawn_mower.automower", "docked", map[string]any{"friendly_name": "Automower", "supported_features": 1}),
			entity: "lawn_mower.automower", state: "mowing"},
		{home: "terrace", text: "set the extractor fan to 40 percent", call: "fan.turn_on",
			setup:  report("fan.extractor_fan", "off", map[string]any{"friendly_name": "Extractor Fan", "supported_features": 16 | 32}),
			entity: "fan.extractor_fan", state: "on"},
		{home: "terrace", text: "stop the roof blinds", fails: true, call: "cover.stop_cover",
			setup:  report("cover.roof_blinds", "closing", map[string]any{"friendly_name": "Roof Blinds", "supported_features": 1 | 2}),
			entity: "cover.roof_blinds", state: "closing"},
		{home: "pool", text: "water the lawn", call: "valve.open_valve",
			entity: "valve.lawn", state: "open"},
		{home: "pool", text: "stop the lawn sprinklers", call: "valve.close_valve",
			entity: "valve.lawn", state: "closed"},
		{home: "pool", text: "left garage door up", call: "cover.open_cover",
			entity: "cover.garage_door_left", state: "open"},
		{home: "pool", text: "left garage door down", call: "cover.close_cover",
			entity: "cover.garage_door_left", state: "closed"},
		{home: "pool", text: "make sure the back door is locked", call: "lock.lock",
			setup: func(t testing.TB, h *home) {
				h.haCall(t, "lock", "unlock", map[string]any{"entity_id": "lock.back_door"})
			},
			entity: "lock.back_door", state: "locked"},
	}

	c := startCentral(t)
	ctx := context.Background()
	owner := c.user(t, "newest-intents@example.com")
	running := map[string]*home{}
	calls := map[string]<-chan string{}
	for name, file := range homes {
		running[name] = c.enrolledHomeWith(t, owner, name+"-home", "--home", file)
		calls[name] = callFeed(watchServiceCalls(t, running[name]))
	}

	passed := 0
	for _, s := range steps {
		ok := t.Run(s.text, func(t *testing.T) {
			h := running[s.home]
			if s.setup != nil {
				s.setup(t, h)
				c.synced(t, owner, h, s.entity)
			}
			resp, err := c.intents.Process(ctx, authed(owner, &homeplanev1.ProcessRequest{Text: s.text, HomeId: h.id}))
			if err != nil {
				t.Fatalf("process: %v", err)
			}
			switch m := resp.Msg; {
			case s.refused:
				if m.GetSuccess() || m.GetErrorCode() != "no_match" {
					t.Errorf("answered %q (success %v, error %q), want no_match: no device can do it", m.GetSpeech(), m.GetSuccess(), m.GetErrorCode())
				}
				if seen := until(calls[s.home], s.call, time.Second); slices.Contains(seen, s.call) {
					t.Errorf("Home Assistant received %s for an entity lacking the feature", s.call)
				}
			case s.fails:
				if m.GetSuccess() {
					t.Errorf("answered as done (%q) a call Home Assistant refuses", m.GetSpeech())
				}
			case !m.GetSuccess():
				t.Fatalf("not done: %q (error %q)", m.GetSpeech(), m.GetErrorCode())
			default:
				if seen := until(calls[s.home], s.call, 10*time.Second); !slices.Contains(seen, s.call) {
					t.Fatalf("Home Assistant received %v, want %s", seen, s.call)
				}
			}
			var state string
			var attrs map[string]any
			deadline := time.Now().Add(10 * time.Second)
			for {
				state, attrs, err = h.haEntity(s.entity)
				if err == nil && state == s.state && holds(attrs, s.attrs) || time.Now().After(deadline) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			if state != s.state || !holds(attrs, s.attrs) {
				t.Fatalf("%s is %q %v, want %q %v", s.entity, state, attrs, s.state, s.attrs)
			}
		})
		if ok {
			passed++
		}
	}
	t.Run("a domain outside the allow-list", func(t *testing.T) {
		h := running["pool"]
		resp, err := c.intents.Process(ctx, authed(owner, &homeplanev1.ProcessRequest{Text: "turn off the kitchen lights", HomeId: h.id}))
		if err != nil {
			t.Fatalf("process: %v", err)
		}
		if resp.Msg.GetSuccess() {
			t.Errorf("the agent let light.turn_off through an allow-list without light: %q", resp.Msg.GetSpeech())
		}
		if seen := until(calls["pool"], "light.turn_off", time.Second); slices.Contains(seen, "light.turn_off") {
			t.Errorf("Home Assistant received light.turn_off")
		}
		if st, err := h.haState("light.kitchen_lights"); err != nil || st != "on" {
			t.Errorf("light.kitchen_lights is %q (%v), want on as the fixture has it", st, err)
		}
	})
	t.Logf("newest intents end to end: %d/%d sentences reach Home Assistant's expected state", passed, len(steps))
}

// holds reports whether attrs has every numeric attribute of want.
func holds(attrs map[string]any, want map[string]float64) bool {
	for k, v := range want {
		got, ok := attrs[k].(float64)
		if !ok || got != v {
			return false
		}
	}
	return true
}

// callFeed passes the service calls Home Assistant receives, as
// domain.service, from serviceCalls' connection into a channel, so a step
// can wait for one with a deadline and leave the connection usable.
func callFeed(w *serviceCalls) <-chan string {
	ch := make(chan string, 64)
	w.conn.SetReadDeadline(time.Time{})
	go func() {
		defer close(ch)
		for {
			domain, service, err := w.read()
			if err != nil {
				return
			}
			ch <- domain + "." + service
		}
	}()
	return ch
}

// until reads calls until one is want or d passes, and returns those it
// read. Calls an earlier step left unread are passed over.
func until(calls <-chan string, want string, d time.Duration) []string {
	var seen []string
	timeout := time.After(d)
	for {
		select {
		case c, ok := <-calls:
			if !ok {
				return seen
			}
			seen = append(seen, c)
			if c == want {
				return seen
			}
		case <-timeout:
			return seen
		}
	}
}
