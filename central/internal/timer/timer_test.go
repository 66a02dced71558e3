package timer_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/timer"
	"github.com/homeplane/homeplane/central/internal/timer/timertest"
)

func newManager(tb testing.TB) (*timer.Manager, *timertest.Clock) {
	tb.Helper()
	clock := timertest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	return timer.NewManager(timer.Options{Clock: clock}), clock
}

func say(tb testing.TB, m *timer.Manager, owner, area, name string, slots map[string]any) (string, error) {
	tb.Helper()
	return m.Handle(intent.TimerRequest{HomeID: "h1", Owner: owner, Area: area}, intent.Intent{Name: intent.Name(name), Slots: slots})
}

func TestTimerConversation(t *testing.T) {
	m, clock := newManager(t)
	steps := []struct {
		name    string
		owner   string
		intent  string
		slots   map[string]any
		advance time.Duration
		want    string
		wantErr error
	}{
		{name: "start", owner: "kitchen-dev", intent: "HassStartTimer", slots: map[string]any{"minutes": 5, "name": "pizza"}, want: "Timer set for 5 minutes named pizza"},
		{name: "start another", owner: "kitchen-dev", intent: "HassStartTimer", slots: map[string]any{"hours": 1, "minutes": 15, "seconds": 30}, want: "Timer set for 1 hour, 15 minutes and 30 seconds"},
		{name: "status by name", owner: "kitchen-dev", intent: "HassTimerStatus", slots: map[string]any{"name": "pizza"}, advance: 2 * time.Minute, want: "3 minutes left."},
		{name: "ambiguous pause", owner: "kitchen-dev", intent: "HassPauseTimer", slots: map[string]any{}, wantErr: timer.ErrAmbiguous},
		{name: "pause by start", owner: "kitchen-dev", intent: "HassPauseTimer", slots: map[string]any{"start_hours": 1, "start_minutes": 15, "start_seconds": 30}, want: "Timer paused"},
		{name: "paused status", owner: "kitchen-dev", intent: "HassTimerStatus", slots: map[string]any{"start_hours": 1, "start_minutes": 15, "start_seconds": 30}, want: "Timer is paused. 1 hour, 13 minutes and 30 seconds left."},
		{name: "add time", owner: "kitchen-dev", intent: "HassIncreaseTimer", slots: map[string]any{"minutes": 5, "name": "pizza"}, want: "5 minutes added to timer named pizza"},
		{name: "other device sees nothing", owner: "bedroom-dev", intent: "HassCancelTimer", slots: map[string]any{}, wantErr: timer.ErrNotFound},
		{name: "other device by area", owner: "bedroom-dev", intent: "HassTimerStatus", slots: map[string]any{"area": "Kitchen", "name": "pizza"}, want: "8 minutes left."},
		{name: "remove time", owner: "kitchen-dev", intent: "HassDecreaseTimer", slots: map[string]any{"minutes": 1, "name": "pizza"}, want: "1 minute removed from timer named pizza"},
		{name: "resume", owner: "kitchen-dev", intent: "HassUnpauseTimer", slots: map[string]any{"start_hours": 1, "start_minutes": 15, "start_seconds": 30}, want: "Timer resumed"},
		{name: "cancel all", owner: "kitchen-dev", intent: "HassCancelAllTimers", slots: map[string]any{}, want: "Cancelled 2 timers"},
		{name: "nothing left", owner: "kitchen-dev", intent: "HassTimerStatus", slots: map[string]any{}, wantErr: timer.ErrNotFound},
		{name: "too long", owner: "kitchen-dev", intent: "HassStartTimer", slots: map[string]any{"hours": 100}, wantErr: timer.ErrLimit},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		got, err := say(t, m, st.owner, "Kitchen", st.intent, st.slots)
		if st.owner == "bedroom-dev" && st.name != "other device by area" {
			// the bedroom device's own area is not the kitchen
			got, err = say(t, m, st.owner, "Bedroom", st.intent, st.slots)
		}
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err %v, want %v", st.name, err, st.wantErr)
		}
		if st.wantErr == nil && got != st.want {
			t.Errorf("%s: %q, want %q", st.name, got, st.want)
		}
		if st.wantErr != nil && got == "" {
			t.Errorf("%s: no speech for a failure", st.name)
		}
	}
}

func TestTimerFinishesAndWatchers(t *testing.T) {
	var mu sync.Mutex
	var ran []timer.Timer
	clock := timertest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	done := make(chan struct{}, 1)
	m := timer.NewManager(timer.Options{Clock: clock, MaxWatchers: 1, Finished: func(tm timer.Timer) {
		mu.Lock()
		ran = append(ran, tm)
		mu.Unlock()
		done <- struct{}{}
	}})
	owner := timer.Owner{HomeID: "h1", DeviceID: "d1"}
	events, stop, err := m.Watch(owner)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Watch(owner); !errors.Is(err, timer.ErrLimit) {
		t.Errorf("second watch: %v, want ErrLimit", err)
	}
	otherEvents, stopOther, err := m.Watch(timer.Owner{HomeID: "h1", DeviceID: "d2"})
	if err != nil {
		t.Fatal(err)
	}
	defer stopOther()

	if _, err := say(t, m, "d1", "Kitchen", "HassStartTimer", map[string]any{"minutes": 5, "conversation_command": "turn off the oven"}); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Kind != timer.Started || ev.Timer.Start != 5*time.Minute {
		t.Errorf("first event %+v", ev)
	}
	clock.Advance(4 * time.Minute)
	select {
	case ev := <-events:
		t.Fatalf("event before the timer ended: %+v", ev)
	default:
	}
	clock.Advance(time.Minute)
	if ev := <-events; ev.Kind != timer.Finished || ev.Timer.Command != "turn off the oven" {
		t.Errorf("finish event %+v", ev)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the timer's command was not handed over")
	}
	mu.Lock()
	if len(ran) != 1 || ran[0].Owner != owner {
		t.Errorf("commands run: %+v", ran)
	}
	mu.Unlock()
	select {
	case ev := <-otherEvents:
		t.Errorf("another device got %+v", ev)
	default:
	}
	stop()
	if _, open := <-events; open {
		t.Error("stopped watch still open")
	}
	stop() // twice is harmless
}

func TestSpoken(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Hour, "1 hour"},
		{45 * time.Second, "45 seconds"},
		{5*time.Minute + 10*time.Second, "5 minutes and 10 seconds"},
		{time.Hour + 15*time.Minute + 30*time.Second, "1 hour, 15 minutes and 30 seconds"},
		{0, "0 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := timer.Spoken(tt.d); got != tt.want {
				t.Errorf("Spoken(%v) = %q", tt.d, got)
			}
		})
	}
}
