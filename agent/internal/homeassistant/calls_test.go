package homeassistant

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

// watching starts Watch on c and returns once its connection carries
// service calls; stop ends it and waits for it to return.
func watching(t *testing.T, c *Client, sim *hasim.Server) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan error, 1)
	rec := &recorder{}
	go func() { done <- c.Watch(ctx, rec.add) }()
	waitWatching(t, sim, rec)
	// The last probe seen, no change is in flight to be taken for a call's.
	if _, err := sim.SetState("sensor.probe", "settled", nil); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "settled probe", func(ch Change) bool {
		return ch.EntityID == "sensor.probe" && ch.New != nil && ch.New.State == "settled"
	})
	if c.live.Load() == nil {
		t.Fatal("Watch reports changes but carries no calls")
	}
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("Watch did not return")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// lastCall returns the simulator's last service call.
func lastCall(t *testing.T, sim *hasim.Server) hasim.ServiceCall {
	t.Helper()
	calls := sim.ServiceCalls()
	if len(calls) == 0 {
		t.Fatal("no service call reached Home Assistant")
	}
	return calls[len(calls)-1]
}

func TestCallServiceOverWebSocket(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	var mu sync.Mutex
	var observed []error
	c := New(ts.URL, token, Options{Observe: func(err error) { mu.Lock(); observed = append(observed, err); mu.Unlock() }})
	ctx := testContext(t)
	watching(t, c, sim)
	tests := serviceCases()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := sim.CallCount()
			changed, err := c.CallService(ctx, tc.domain, tc.svc, tc.data)
			// An unknown service is refused before it counts as a call; its
			// CommandError says it went over the WebSocket.
			if tc.wsCode != "not_found" && (sim.CallCount() != before+1 || !lastCall(t, sim).WebSocket) {
				t.Fatalf("%d calls reached Home Assistant, the last over REST", sim.CallCount()-before)
			}
			if tc.wsErr != nil {
				var ce *CommandError
				if !errors.Is(err, tc.wsErr) || !errors.As(err, &ce) || ce.Code != tc.wsCode {
					t.Fatalf("err %v, want %v with code %s", err, tc.wsErr, tc.wsCode)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				ids := []string{}
				for _, s := range changed {
					ids = append(ids, s.EntityID)
				}
				if !slices.Equal(ids, tc.wantChanged) {
					t.Fatalf("changed %v, want %v", ids, tc.wantChanged)
				}
				for _, s := range changed {
					if st, _ := sim.State(s.EntityID); s.State != st.State || s.LastUpdated.IsZero() {
						t.Fatalf("changed %+v, simulator has %q", s, st.State)
					}
				}
			}
			if tc.entity != "" {
				if st, _ := sim.State(tc.entity); st.State != tc.state {
					t.Fatalf("%s is %q, want %q", tc.entity, st.State, tc.state)
				}
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if refusal := slices.IndexFunc(observed, func(err error) bool { return err != nil }); len(observed) < len(tests)-1 || refusal < 0 {
		t.Fatalf("observed %v: want every answer, refusals included", observed)
	}
}

func TestCallServiceConcurrentOverWebSocket(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	watching(t, c, sim)
	lights := []string{"light.kitchen_ceiling", "light.bedroom_lamp"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			svc := []string{"turn_on", "turn_off"}[i%2]
			if _, err := c.CallService(ctx, "light", svc, map[string]any{"entity_id": lights[i%len(lights)]}); err != nil {
				errs <- fmt.Errorf("call %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // an id sent out of order is refused as id_reuse
	}
	for _, call := range sim.ServiceCalls() {
		if !call.WebSocket {
			t.Fatalf("a call went over REST: %+v", call)
		}
	}
	if n := sim.CallCount(); n != 64 {
		t.Fatalf("%d calls reached Home Assistant, want 64", n)
	}
}

func TestCallServiceWithoutWebSocketUsesREST(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, token, Options{})
	ctx := testContext(t)
	call := func() {
		t.Helper()
		if _, err := c.CallService(ctx, "switch", "toggle", map[string]any{"entity_id": "switch.coffee_maker"}); err != nil {
			t.Fatal(err)
		}
	}
	call()
	if lastCall(t, sim).WebSocket {
		t.Fatal("a call without Watch went over a WebSocket")
	}
	stop := watching(t, c, sim)
	call()
	if !lastCall(t, sim).WebSocket {
		t.Fatal("a call while watching went over REST")
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v", err)
	}
	call()
	if lastCall(t, sim).WebSocket {
		t.Fatal("a call after Watch ended went over a WebSocket")
	}
}

// TestCallServiceConnectionDroppedMidCall drops the WebSocket while a call
// waits for its result: the call fails at once as unavailable and is not
// sent again over REST, since Home Assistant may have run it; the next call
// goes over REST.
func TestCallServiceConnectionDroppedMidCall(t *testing.T) {
	const delay = 800 * time.Millisecond // Home Assistant's answer to every command
	sim, ts := startSim(t, hasim.Options{Delay: delay})
	c := New(ts.URL, token, Options{})
	stop := watching(t, c, sim)
	res := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.CallService(testContext(t), "light", "turn_on", map[string]any{"entity_id": "light.kitchen_ceiling"})
		res <- err
	}()
	time.Sleep(200 * time.Millisecond) // the call is out, its answer 0.6 s away
	sim.CloseConnections()
	select {
	case err := <-res:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err %v, want ErrUnavailable", err)
		}
		if took := time.Since(start); took >= delay {
			t.Fatalf("the call waited %v, past the drop", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not return after the connection dropped")
	}
	if err := stop(); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v, want the lost connection", err)
	}
	time.Sleep(delay + 200*time.Millisecond) // time for any retry to arrive
	if n := sim.CallCount(); n != 0 {
		t.Fatalf("%d calls reached Home Assistant: the dropped call was sent again", n)
	}
	if st, _ := sim.State("light.kitchen_ceiling"); st.State != "off" {
		t.Fatalf("light is %q", st.State)
	}
	if _, err := c.CallService(testContext(t), "light", "turn_on", map[string]any{"entity_id": "light.kitchen_ceiling"}); err != nil {
		t.Fatal(err)
	}
	if lastCall(t, sim).WebSocket {
		t.Fatal("the call after the drop went over the dropped WebSocket")
	}
}

// TestCallServiceHonoursDeadlineOverWebSocket: a call whose context ends
// while Home Assistant is slow returns the context's error, and the
// connection stays up for the next call.
func TestCallServiceHonoursDeadlineOverWebSocket(t *testing.T) {
	sim, ts := startSim(t, hasim.Options{Delay: 500 * time.Millisecond})
	c := New(ts.URL, token, Options{})
	watching(t, c, sim)
	s := c.live.Load()
	ctx, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	_, err := c.CallService(ctx, "switch", "toggle", map[string]any{"entity_id": "switch.coffee_maker"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	if _, err := c.CallService(testContext(t), "switch", "toggle", map[string]any{"entity_id": "switch.coffee_maker"}); err != nil {
		t.Fatal(err)
	}
	if c.live.Load() != s || !lastCall(t, sim).WebSocket {
		t.Fatal("the late answer cost the connection")
	}
}

// freezer forwards TCP connections to target until frozen; then it
// swallows everything both ways without closing, as a stuck proxy or a
// host gone dark would.
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	var conns sync.WaitGroup
	t.Cleanup(func() { ln.Close(); f.frozen.Store(false) })
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			conns.Go(func() { f.pipe(up, down) })
			conns.Go(func() { f.pipe(down, up) })
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if f.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestCallServiceOnDeadConnection: a WebSocket that stops carrying anything
// without closing fails a call within a few probe intervals, not at the
// command's deadline, and without the call reaching Home Assistant.
func TestCallServiceOnDeadConnection(t *testing.T) {
	defer func(p, a time.Duration) { probeAfter, abortAfter = p, a }(probeAfter, abortAfter)
	probeAfter, abortAfter = 200*time.Millisecond, time.Second
	sim, ts := startSim(t, hasim.Options{})
	f := startFreezer(t, strings.TrimPrefix(ts.URL, "http://"))
	c := New("http://"+f.ln.Addr().String(), token, Options{})
	stop := watching(t, c, sim)
	f.frozen.Store(true)
	start := time.Now()
	_, err := c.CallService(testContext(t), "light", "turn_on", map[string]any{"entity_id": "light.kitchen_ceiling"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the call took %v on a dead connection", took)
	}
	if err := stop(); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v, want the lost connection", err)
	}
	if n := sim.CallCount(); n != 0 {
		t.Fatalf("%d calls reached Home Assistant", n)
	}
}

// TestCallServiceSlowAnswerKeepsConnection: a call Home Assistant takes
// longer to answer than the probe interval, on a connection that answers
// pings, is waited for.
func TestCallServiceSlowAnswerKeepsConnection(t *testing.T) {
	defer func(d time.Duration) { probeAfter = d }(probeAfter)
	probeAfter = 100 * time.Millisecond
	sim, ts := startSim(t, hasim.Options{Delay: 60 * time.Millisecond})
	c := New(ts.URL, token, Options{})
	watching(t, c, sim)
	s := c.live.Load()
	// Five queued toggles take 300 ms, the connection answering each in turn.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := c.CallService(testContext(t), "switch", "toggle", map[string]any{"entity_id": "switch.coffee_maker"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if c.live.Load() != s {
		t.Fatal("a slow answer cost the connection")
	}
}

// TestCallServiceStalledHomeAssistantKeepsConnection: a Home Assistant that
// says nothing for longer than the probe, pings included, but less than
// abortAfter (its event loop stalled) keeps its connection, and the call is
// answered.
func TestCallServiceStalledHomeAssistantKeepsConnection(t *testing.T) {
	defer func(p, a time.Duration) { probeAfter, abortAfter = p, a }(probeAfter, abortAfter)
	probeAfter, abortAfter = 100*time.Millisecond, 5*time.Second
	sim, ts := startSim(t, hasim.Options{Delay: time.Second})
	c := New(ts.URL, token, Options{})
	watching(t, c, sim)
	s := c.live.Load()
	if _, err := c.CallService(testContext(t), "switch", "toggle", map[string]any{"entity_id": "switch.coffee_maker"}); err != nil {
		t.Fatal(err)
	}
	if c.live.Load() != s {
		t.Fatal("a stall shorter than abortAfter cost the connection")
	}
}
