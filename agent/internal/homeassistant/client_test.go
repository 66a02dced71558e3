package homeassistant

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

const token = "long-lived-token"

func startSim(tb testing.TB, opts hasim.Options) (*hasim.Server, *httptest.Server) {
	tb.Helper()
	opts.Token = token
	sim := hasim.New(hasim.DemoHome(), opts)
	ts := httptest.NewServer(sim.Handler())
	tb.Cleanup(ts.Close)
	return sim, ts
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func TestRESTCalls(t *testing.T) {
	_, ts := startSim(t, hasim.Options{Version: "2026.3.2"})
	c := New(ts.URL+"/", token, Options{})
	ctx := testContext(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Version != "2026.3.2" || cfg.LocationName != "Demo Home" || cfg.TimeZone != "Europe/Berlin" || cfg.State != "RUNNING" {
		t.Fatalf("config %+v", cfg)
	}
	states, err := c.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(states, func(s State) bool { return s.EntityID == "climate.thermostat" })
	if i < 0 || states[i].Attributes["current_temperature"] != 21.5 || states[i].LastChanged.IsZero() || states[i].LastUpdated.IsZero() {
		t.Fatalf("thermostat %+v", states[i])
	}
}

func TestCallService(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	tests := append(serviceCases(),
		serviceCase{name: "invalid name refused locally", domain: "light/../x", svc: "turn_on", restErr: ErrBadRequest})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed, err := c.CallService(ctx, tc.domain, tc.svc, tc.data)
			if tc.restErr != nil && !errors.Is(err, tc.restErr) {
				t.Fatalf("err %v, want %v", err, tc.restErr)
			}
			if tc.restStatus != 0 {
				var se *StatusError
				if !errors.As(err, &se) || se.StatusCode != tc.restStatus {
					t.Fatalf("err %v, want status %d", err, tc.restStatus)
				}
			}
			if tc.restErr == nil && tc.restStatus == 0 {
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, s := range changed {
					ids = append(ids, s.EntityID)
				}
				if !slices.Equal(ids, tc.wantChanged) && !(len(ids) == 0 && len(tc.wantChanged) == 0) {
					t.Fatalf("changed %v, want %v", ids, tc.wantChanged)
				}
			}
			if tc.entity != "" {
				if st, _ := sim.State(tc.entity); st.State != tc.state {
					t.Fatalf("%s is %q, want %q", tc.entity, st.State, tc.state)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	_, ts := startSim(t, hasim.Options{})
	ctx := testContext(t)
	bad := New(ts.URL, "wrong", Options{})
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"REST unauthorized", func() error { return bad.Ping(ctx) }, ErrUnauthorized},
		{"registry unauthorized", func() error { _, err := bad.Registry(ctx); return err }, ErrUnauthorized},
		{"watch unauthorized", func() error { return bad.Watch(ctx, func(Change) {}) }, ErrUnauthorized},
		{"bad base url", func() error { return New("ftp://x", token, Options{}).Ping(ctx) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	var se *StatusError
	if err := bad.Ping(ctx); !errors.As(err, &se) || se.Body != "401: Unauthorized" {
		t.Fatalf("status error %#v", err)
	}
}

func TestUnavailable(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{Unhealthy: true})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	sim.SetUnhealthy(false)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSlowServerHonoursDeadline(t *testing.T) {
	_, ts := startSim(t, hasim.Options{Delay: 5 * time.Second})
	c := New(ts.URL, token, Options{})
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"rest", func(ctx context.Context) error { _, err := c.States(ctx); return err }},
		{"registry", func(ctx context.Context) error { _, err := c.Registry(ctx); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err %v, want deadline exceeded", err)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Fatalf("took %v: the deadline was not honoured", took)
			}
		})
	}
}

func TestHTTPClientTimeout(t *testing.T) {
	_, ts := startSim(t, hasim.Options{Delay: 5 * time.Second})
	c := New(ts.URL, token, Options{HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	start := time.Now()
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("no error")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("client timeout not applied")
	}
}

func TestAnswerTooLarge(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("["))
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = ' '
		}
		for range MaxAnswerBytes>>20 + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer ts.Close()
	_, err := New(ts.URL, token, Options{}).States(testContext(t))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Time
		wantErr  bool
	}{
		{"fraction", "2016-05-30T21:43:32.418320+00:00", time.Date(2016, 5, 30, 21, 43, 32, 418320000, time.UTC), false},
		{"no fraction", "2016-05-30T21:43:32+00:00", time.Date(2016, 5, 30, 21, 43, 32, 0, time.UTC), false},
		{"offset", "2016-05-30T23:43:32+02:00", time.Date(2016, 5, 30, 21, 43, 32, 0, time.UTC), false},
		{"empty", "", time.Time{}, false},
		{"garbage", "yesterday", time.Time{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTime(tc.in)
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestStartingHomeAssistant(t *testing.T) {
	_, ts := startSim(t, hasim.Options{StartDelay: time.Hour})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"rest", func() error { return c.Ping(ctx) }},
		{"websocket", func() error { _, err := c.Registry(ctx); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("err %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestFailingServices(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{FailServices: true})
	_, err := New(ts.URL, token, Options{}).CallService(testContext(t), "switch", "turn_on", map[string]any{"entity_id": "switch.coffee_maker"})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("err %v, want a 500 StatusError", err)
	}
	if st, _ := sim.State("switch.coffee_maker"); st.State != "off" || sim.CallCount() != 1 {
		t.Fatalf("state %q after %d calls", st.State, sim.CallCount())
	}
}

// serviceCase is a service call and what Home Assistant answers to it over
// REST and over the WebSocket.
type serviceCase struct {
	name          string
	domain, svc   string
	data          map[string]any
	wantChanged   []string
	entity, state string
	restErr       error
	restStatus    int
	wsErr         error
	wsCode        string
}

func serviceCases() []serviceCase {
	return []serviceCase{
		{name: "light on", domain: "light", svc: "turn_on", data: map[string]any{"entity_id": "light.kitchen_ceiling", "brightness_pct": 20},
			wantChanged: []string{"light.kitchen_ceiling"}, entity: "light.kitchen_ceiling", state: "on"},
		{name: "lock unlock", domain: "lock", svc: "unlock", data: map[string]any{"entity_id": "lock.front_door"},
			wantChanged: []string{"lock.front_door"}, entity: "lock.front_door", state: "unlocked"},
		{name: "no change", domain: "lock", svc: "unlock", data: map[string]any{"entity_id": "lock.front_door"},
			wantChanged: []string{}, entity: "lock.front_door", state: "unlocked"},
		{name: "area lights off", domain: "light", svc: "turn_off", data: map[string]any{"area_id": "kitchen"},
			wantChanged: []string{"light.kitchen_ceiling"}, entity: "light.kitchen_ceiling", state: "off"},
		{name: "unknown service", domain: "light", svc: "explode", data: map[string]any{"entity_id": "light.kitchen_ceiling"},
			restErr: ErrBadRequest, restStatus: 400, wsErr: ErrNotFound, wsCode: "not_found"},
		{name: "validation error", domain: "climate", svc: "set_temperature", data: map[string]any{"entity_id": "climate.thermostat", "temperature": 80},
			restStatus: 500, wsErr: ErrBadRequest, wsCode: "service_validation_error", entity: "climate.thermostat", state: "heat"},
	}
}
