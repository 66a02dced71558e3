package command

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// TestAttacksRound3HomeAssistant is the agent's part of the third attack
// round (docs/benchmarks.md, "Attacks, round 3"): a Home Assistant, broken
// or not what it claims to be, answering the agent's service calls over
// its real REST API. The command runs through the agent's runner, Services
// executor and Home Assistant client as in the agent; each row asserts a
// result that reports cleanly, fits the MQTT budget of a result, and holds
// only what the command asked about, within the command's deadline.
func TestAttacksRound3HomeAssistant(t *testing.T) {
	// states writes n state objects as Home Assistant's answer to a call.
	states := func(w io.Writer, n int, attr string) {
		_, _ = io.WriteString(w, "[")
		for i := range n {
			if i > 0 {
				_, _ = io.WriteString(w, ",")
			}
			fmt.Fprintf(w, `{"entity_id":"light.l%d","state":"on","attributes":{"friendly_name":"Light %d","x":%q},"last_changed":"2026-01-01T00:00:00+00:00","last_updated":"2026-01-01T00:00:00+00:00"}`, i, i, attr)
		}
		_, _ = io.WriteString(w, "]")
	}
	state := func(id, st string) string {
		return fmt.Sprintf(`{"entity_id":%q,"state":%q,"attributes":{},"last_changed":"2026-01-01T00:00:00+00:00","last_updated":"2026-01-01T00:00:00+00:00"}`, id, st)
	}
	type outcome struct {
		res  *homeplanev1.Result
		took time.Duration
	}
	// run sends a command turning on light.kitchen to a Home Assistant
	// answering with serve, and checks what every row must hold.
	run := func(t *testing.T, serve http.HandlerFunc) outcome {
		t.Helper()
		ha := httptest.NewServer(serve)
		t.Cleanup(ha.Close)
		client := homeassistant.New(ha.URL, "ha-token", homeassistant.Options{HTTPClient: &http.Client{Timeout: 30 * time.Second}})
		r := New(NewServices(homeassistant.NewServices(client, &homeassistant.Facts{}), ServicesOptions{}), nil, Options{})
		cmd := &homeplanev1.Command{Id: fmt.Sprintf("c-%d", time.Now().UnixNano()), Deadline: timestamppb.New(time.Now().Add(3 * time.Second)),
			Calls: []*homeplanev1.ServiceCall{sc("light", "turn_on", "light.kitchen")}}
		start := time.Now()
		res := r.Handle(context.Background(), cmd)
		o := outcome{res: res, took: time.Since(start)}
		// The bound is the deadline, not the client's 30 s timeout. Decoding
		// the largest answers under the race detector on a loaded machine
		// takes seconds of its own (10.4 s seen while other suites ran),
		// hence the slack past the 3 s, still half the client's timeout.
		if o.took > 15*time.Second {
			t.Errorf("the command took %v, far past its deadline of 3s", o.took)
		}
		if n := proto.Size(res); n > topic.MaxPayload(topic.Result) {
			t.Errorf("the result is %d bytes, over the %d a result may carry", n, topic.MaxPayload(topic.Result))
		}
		if len(res.GetError()) > maxErrorLen+4 {
			t.Errorf("the error is %d bytes", len(res.GetError()))
		}
		for _, e := range res.GetChanged() {
			if e.GetEntityId() != "light.kitchen" {
				t.Errorf("the result reports %s (%s), which the command did not target, among %d states",
					e.GetEntityId(), e.GetState(), len(res.GetChanged()))
				break
			}
		}
		return o
	}
	failed := func(t *testing.T, o outcome) {
		t.Helper()
		if o.res.GetOk() || o.res.GetCode() == homeplanev1.CommandError_COMMAND_ERROR_UNSPECIFIED {
			t.Errorf("result ok %v, code %v: want a failure with its code", o.res.GetOk(), o.res.GetCode())
		}
	}
	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"an answer of 20,000 changed states", func(t *testing.T) {
			o := run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				states(w, 20000, "")
			})
			if !o.res.GetOk() {
				t.Errorf("the call ran, and the result says %v: %s", o.res.GetCode(), o.res.GetError())
			}
		}},
		{"an answer with 10 MB of attributes", func(t *testing.T) {
			o := run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `[{"entity_id":"light.kitchen","state":"on","attributes":{"x":"`+strings.Repeat("a", 10<<20)+`"}}]`)
			})
			if !o.res.GetOk() {
				t.Errorf("the call ran, and the result says %v: %s", o.res.GetCode(), o.res.GetError())
			}
		}},
		{"an answer claiming a lock changed for a light's call", func(t *testing.T) {
			run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "["+state("lock.front_door", "unlocked")+","+state("light.kitchen", "on")+"]")
			})
		}},
		{"an answer of 17 MiB", func(t *testing.T) {
			failed(t, run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				states(w, 17000, strings.Repeat("z", 1000))
			}))
		}},
		{"an answer that never ends", func(t *testing.T) {
			failed(t, run(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "[")
				for {
					select {
					case <-r.Context().Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := io.WriteString(w, " "); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}))
		}},
		{"an HTML page with status 200", func(t *testing.T) {
			o := run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				_, _ = io.WriteString(w, "<html><script>alert(1)</script>"+strings.Repeat("<p>x</p>", 10000)+"</html>")
			})
			failed(t, o)
			if strings.Contains(o.res.GetError(), "<script>") {
				t.Errorf("the error carries the page: %q", o.res.GetError())
			}
		}},
		{"malformed and deeply nested JSON", func(t *testing.T) {
			for _, body := range []string{`[{"entity_id":"light.kitchen","state":`, strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
				`[{"entity_id":"../../etc","state":"on"}]`, `{"entity_id":"light.kitchen","state":"on"}`, `[null]`} {
				// The call went out: a result that it ran without a
				// state, or that it failed, are both a clean report.
				run(t, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					_, _ = io.WriteString(w, body)
				})
			}
		}},
		{"an error answer of 10 MiB", func(t *testing.T) {
			failed(t, run(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, strings.Repeat("e", 10<<20))
			}))
		}},
		{"a redirect to another server on the same host", func(t *testing.T) {
			var reached atomic.Int32
			var token atomic.Value
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached.Add(1)
				token.Store(r.Header.Get("Authorization"))
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, "["+state("light.kitchen", "on")+"]")
			}))
			defer other.Close()
			o := run(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/api/services/lock/unlock", http.StatusTemporaryRedirect)
			})
			if reached.Load() > 0 {
				t.Errorf("the call was sent again to %s, with Authorization %q", other.URL, token.Load())
			}
			failed(t, o)
		}},
		{"a service call answered after its deadline", func(t *testing.T) {
			o := run(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			})
			if o.res.GetCode() != CodeExpired {
				t.Errorf("code %v, want expired", o.res.GetCode())
			}
		}},
	}
	passed := 0
	for _, r := range rows {
		if t.Run(r.name, r.run) {
			passed++
		}
	}
	t.Logf("round 3, Home Assistant's answers: %d of %d attacks defended", passed, len(rows))
}
