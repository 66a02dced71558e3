package hasim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "test-token"

// fakeClock is a settable clock for write-semantics and start-delay tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
}

func startServer(tb testing.TB, home *Home, opts Options) (*Server, *httptest.Server) {
	tb.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	s := New(home, opts)
	ts := httptest.NewServer(s.Handler())
	tb.Cleanup(ts.Close)
	return s, ts
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func do(tb testing.TB, ts *httptest.Server, method, path, auth, body string) answer {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func api(tb testing.TB, ts *httptest.Server, method, path, body string) answer {
	tb.Helper()
	return do(tb, ts, method, path, "Bearer "+testToken, body)
}

func TestAuth(t *testing.T) {
	_, ts := startServer(t, nil, Options{})
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"no header", "", 401},
		{"lowercase scheme", "bearer " + testToken, 401},
		{"other scheme", "Token " + testToken, 401},
		{"wrong token", "Bearer nope", 401},
		{"no space", "Bearer" + testToken, 401},
		{"valid", "Bearer " + testToken, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, ts, "GET", "/api/", tc.auth, "")
			if a.status != tc.status {
				t.Fatalf("status %d, want %d", a.status, tc.status)
			}
			if tc.status == 401 && string(a.body) != "401: Unauthorized" {
				t.Fatalf("body %q, want aiohttp's plain text", a.body)
			}
			if tc.status == 200 && string(a.body) != `{"message":"API running."}` {
				t.Fatalf("body %s", a.body)
			}
		})
	}
}

func TestEmptyTokenRefusesEverything(t *testing.T) {
	s := New(nil, Options{})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if a := do(t, ts, "GET", "/api/", "Bearer ", ""); a.status != 401 {
		t.Fatalf("status %d, want 401", a.status)
	}
}

func TestRESTEndpoints(t *testing.T) {
	_, ts := startServer(t, nil, Options{Version: "2026.1.0"})
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string // substring of the body
	}{
		{"config", "GET", "/api/config", "", 200, `"version":"2026.1.0"`},
		{"core state", "GET", "/api/core/state", "", 200, `"state":"RUNNING"`},
		{"states", "GET", "/api/states", "", 200, `"entity_id":"light.kitchen_ceiling"`},
		{"one state", "GET", "/api/states/lock.front_door", "", 200, `"state":"locked"`},
		{"upper-case id is lowered", "GET", "/api/states/LOCK.FRONT_DOOR", "", 200, `"state":"locked"`},
		{"missing state", "GET", "/api/states/light.nope", "", 404, `{"message":"Entity not found."}`},
		{"unknown url", "GET", "/api/nothing", "", 404, "404: Not Found"},
		{"wrong method", "DELETE", "/api/config", "", 405, "405: Method Not Allowed"},
		{"services", "GET", "/api/services", "", 200, `{"domain":"cover","services":{`},
		{"create state", "POST", "/api/states/sensor.new_one", `{"state":"5","attributes":{"unit_of_measurement":"W"}}`, 201, `"state":"5"`},
		{"update state", "POST", "/api/states/lock.front_door", `{"state":"unlocked"}`, 200, `"state":"unlocked"`},
		{"no state key", "POST", "/api/states/sensor.x", `{"attributes":{}}`, 400, `{"message":"No state attribute specified."}`},
		{"invalid entity id", "POST", "/api/states/sensor.bad_", `{"state":"1"}`, 400, `{"message":"Invalid entity ID specified."}`},
		{"not an object", "POST", "/api/states/sensor.x", `[1]`, 400, `{"message":"State data should be a JSON object"}`},
		{"state too long", "POST", "/api/states/sensor.x", `{"state":"` + strings.Repeat("x", 256) + `"}`, 400, `{"message":"Invalid state specified."}`},
		{"delete state", "DELETE", "/api/states/binary_sensor.back_door", "", 200, `{"message":"Entity removed."}`},
		{"delete missing", "DELETE", "/api/states/binary_sensor.none", "", 404, `{"message":"Entity not found."}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := api(t, ts, tc.method, tc.path, tc.body)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d: %s", a.status, tc.status, a.body)
			}
			if !strings.Contains(string(a.body), tc.want) {
				t.Fatalf("body %s\nwant it to contain %s", a.body, tc.want)
			}
			if tc.status == 201 && a.header.Get("Location") != tc.path {
				t.Fatalf("Location %q, want %q", a.header.Get("Location"), tc.path)
			}
		})
	}
}

func TestStateObjectShape(t *testing.T) {
	_, ts := startServer(t, nil, Options{})
	a := api(t, ts, "GET", "/api/states/sensor.kitchen_temperature", "")
	dec := json.NewDecoder(bytes.NewReader(a.body))
	if tok, _ := dec.Token(); tok != json.Delim('{') {
		t.Fatalf("not an object: %s", a.body)
	}
	var keys []string
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	want := "entity_id,state,attributes,last_changed,last_reported,last_updated,context"
	if got := strings.Join(keys, ","); got != want {
		t.Fatalf("keys %s, want %s", got, want)
	}
	var st struct {
		Attributes map[string]any `json:"attributes"`
		Context    struct {
			ID       string  `json:"id"`
			ParentID *string `json:"parent_id"`
			UserID   *string `json:"user_id"`
		} `json:"context"`
		LastChanged string `json:"last_changed"`
	}
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Context.ID) != 26 || st.Context.ParentID != nil || st.Context.UserID == nil {
		t.Fatalf("context %+v, want a ULID id, null parent, a user id", st.Context)
	}
	if st.Attributes["unit_of_measurement"] != "°C" || st.Attributes["device_class"] != "temperature" || st.Attributes["friendly_name"] != "Kitchen Temperature" {
		t.Fatalf("attributes %v", st.Attributes)
	}
	if !strings.HasSuffix(st.LastChanged, "+00:00") {
		t.Fatalf("last_changed %q not in Python's isoformat", st.LastChanged)
	}
}

func TestIsoTime(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"microseconds", time.Date(2016, 5, 30, 21, 43, 32, 418320000, time.UTC), "2016-05-30T21:43:32.418320+00:00"},
		{"no fraction", time.Date(2016, 5, 30, 21, 43, 32, 0, time.UTC), "2016-05-30T21:43:32+00:00"},
		{"nanoseconds dropped", time.Date(2016, 5, 30, 21, 43, 32, 999, time.UTC), "2016-05-30T21:43:32+00:00"},
		{"other zone", time.Date(2016, 5, 30, 23, 43, 32, 5000, time.FixedZone("x", 7200)), "2016-05-30T21:43:32.000005+00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isoTime(tc.in); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestWriteSemantics(t *testing.T) {
	clock := newClock()
	s, ts := startServer(t, nil, Options{Now: clock.Now})
	before, _ := s.State("lock.front_door")

	clock.Advance(time.Second)
	api(t, ts, "POST", "/api/states/lock.front_door", `{"state":"locked","attributes":`+mustJSON(t, before.Attributes)+`}`)
	same, _ := s.State("lock.front_door")
	if !same.LastChanged.Equal(before.LastChanged) || !same.LastUpdated.Equal(before.LastUpdated) || !same.LastReported.Equal(clock.Now()) {
		t.Fatalf("unchanged write: changed %v updated %v reported %v", same.LastChanged, same.LastUpdated, same.LastReported)
	}

	clock.Advance(time.Second)
	api(t, ts, "POST", "/api/states/lock.front_door", `{"state":"locked","attributes":{"changed_by":"x"}}`)
	attr, _ := s.State("lock.front_door")
	if !attr.LastChanged.Equal(before.LastChanged) || !attr.LastUpdated.Equal(clock.Now()) {
		t.Fatalf("attribute write: changed %v updated %v", attr.LastChanged, attr.LastUpdated)
	}

	clock.Advance(time.Second)
	api(t, ts, "POST", "/api/states/lock.front_door", `{"state":"unlocked","attributes":{"changed_by":"x"}}`)
	changed, _ := s.State("lock.front_door")
	if !changed.LastChanged.Equal(clock.Now()) || !changed.LastUpdated.Equal(clock.Now()) {
		t.Fatalf("state write: changed %v updated %v", changed.LastChanged, changed.LastUpdated)
	}

	// A service call that changes nothing reports no changed states.
	clock.Advance(time.Second)
	a := api(t, ts, "POST", "/api/services/lock/unlock", `{"entity_id":"lock.front_door"}`)
	if a.status != 200 || string(a.body) != "[]" {
		t.Fatalf("no-op call: %d %s", a.status, a.body)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestFaults(t *testing.T) {
	t.Run("start delay", func(t *testing.T) {
		clock := newClock()
		_, ts := startServer(t, nil, Options{StartDelay: 10 * time.Second, Now: clock.Now})
		if a := api(t, ts, "GET", "/api/", ""); a.status != 503 || len(a.body) != 0 {
			t.Fatalf("while starting: %d %q", a.status, a.body)
		}
		clock.Advance(10 * time.Second)
		if a := api(t, ts, "GET", "/api/", ""); a.status != 200 {
			t.Fatalf("after start: %d", a.status)
		}
	})
	t.Run("unhealthy", func(t *testing.T) {
		s, ts := startServer(t, nil, Options{Unhealthy: true})
		if a := api(t, ts, "GET", "/api/states", ""); a.status != 503 {
			t.Fatalf("unhealthy: %d", a.status)
		}
		s.SetUnhealthy(false)
		if a := api(t, ts, "GET", "/api/states", ""); a.status != 200 {
			t.Fatalf("healthy again: %d", a.status)
		}
	})
	t.Run("failing services", func(t *testing.T) {
		s, ts := startServer(t, nil, Options{FailServices: true})
		a := api(t, ts, "POST", "/api/services/light/turn_on", `{"entity_id":"light.kitchen_ceiling"}`)
		if a.status != 500 || !strings.HasPrefix(string(a.body), "500 Internal Server Error") {
			t.Fatalf("got %d %q", a.status, a.body)
		}
		if st, _ := s.State("light.kitchen_ceiling"); st.State != "off" {
			t.Fatalf("failed call changed the state to %s", st.State)
		}
		if s.CallCount() != 1 {
			t.Fatalf("call count %d, want 1", s.CallCount())
		}
	})
	t.Run("bounded body", func(t *testing.T) {
		_, ts := startServer(t, nil, Options{MaxBodyBytes: 64})
		a := api(t, ts, "POST", "/api/services/light/turn_on", `{"entity_id":"`+strings.Repeat("a", 100)+`"}`)
		if a.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d", a.status)
		}
	})
}
