package timer_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/timer"
	"github.com/homeplane/homeplane/central/internal/timer/timertest"
)

var errDown = errors.New("database down")

// memStore is a timer.Store in memory that can be told to fail.
type memStore struct {
	mu     sync.Mutex
	timers map[string]timer.Timer
	// okCalls is how many more calls succeed before the rest fail; -1 is
	// never fail.
	okCalls int
	loadErr error
}

func newMemStore() *memStore { return &memStore{timers: map[string]timer.Timer{}, okCalls: -1} }

func (s *memStore) failAfter(n int) { s.mu.Lock(); s.okCalls = n; s.mu.Unlock() }

func (s *memStore) failing() bool {
	if s.okCalls < 0 {
		return false
	}
	if s.okCalls == 0 {
		return true
	}
	s.okCalls--
	return false
}

func (s *memStore) Save(_ context.Context, t timer.Timer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing() {
		return errDown
	}
	s.timers[t.ID] = t
	return nil
}

func (s *memStore) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing() {
		return errDown
	}
	if _, ok := s.timers[id]; !ok {
		return timer.ErrNotFound
	}
	delete(s.timers, id)
	return nil
}

func (s *memStore) DeleteDue(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing() {
		return errDown
	}
	if t, ok := s.timers[id]; !ok || t.Paused || t.EndsAt.After(now) {
		return timer.ErrNotFound
	}
	delete(s.timers, id)
	return nil
}

func (s *memStore) Load(context.Context) ([]timer.Timer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loadErr != nil {
		return nil, s.loadErr
	}
	return slices.Collect(maps.Values(s.timers)), nil
}

func (s *memStore) snapshot() map[string]timer.Timer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.timers)
}

var (
	kitchen = timer.Owner{HomeID: "h1", DeviceID: "kitchen-dev"}
	bedroom = timer.Owner{HomeID: "h1", DeviceID: "bedroom-dev"}
)

// assertMirror fails unless the store holds exactly the timers m runs.
func assertMirror(tb testing.TB, m *timer.Manager, s *memStore) {
	tb.Helper()
	mem := map[string]timer.Timer{}
	for _, o := range []timer.Owner{kitchen, bedroom} {
		for _, t := range m.Find(o, timer.Selector{}) {
			mem[t.ID] = t
		}
	}
	stored := s.snapshot()
	if !maps.EqualFunc(mem, stored, func(a, b timer.Timer) bool { return a == b }) {
		tb.Fatalf("store and memory disagree:\nmemory %+v\nstore  %+v", mem, stored)
	}
}

func newStoredManager(tb testing.TB, s *memStore, finished func(timer.Timer)) (*timer.Manager, *timertest.Clock) {
	tb.Helper()
	clock := timertest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	return timer.NewManager(timer.Options{Clock: clock, Store: s, RetryDelay: 10 * time.Second, Finished: finished}), clock
}

func TestStoreMirrorsEveryChange(t *testing.T) {
	s := newMemStore()
	m, clock := newStoredManager(t, s, nil)
	events, stop, err := m.Watch(kitchen)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	steps := []struct {
		name    string
		intent  string
		slots   map[string]any
		advance time.Duration
		stored  int
	}{
		{name: "start", intent: "HassStartTimer", slots: map[string]any{"minutes": 5, "name": "pizza"}, stored: 1},
		{name: "start with a command", intent: "HassStartTimer", slots: map[string]any{"minutes": 10, "conversation_command": "turn off the oven"}, stored: 2},
		{name: "pause", intent: "HassPauseTimer", slots: map[string]any{"name": "pizza"}, advance: time.Minute, stored: 2},
		{name: "add while paused", intent: "HassIncreaseTimer", slots: map[string]any{"minutes": 2, "name": "pizza"}, advance: time.Minute, stored: 2},
		{name: "resume", intent: "HassUnpauseTimer", slots: map[string]any{"name": "pizza"}, stored: 2},
		{name: "remove while running", intent: "HassDecreaseTimer", slots: map[string]any{"minutes": 1, "start_minutes": 10}, stored: 2},
		{name: "cancel", intent: "HassCancelTimer", slots: map[string]any{"name": "pizza"}, stored: 1},
		{name: "finish", intent: "HassStartTimer", slots: map[string]any{"seconds": 30}, stored: 2},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		if _, err := say(t, m, kitchen.DeviceID, "Kitchen", st.intent, st.slots); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		assertMirror(t, m, s)
		if n := len(s.snapshot()); n != st.stored {
			t.Fatalf("%s: %d timers stored, want %d", st.name, n, st.stored)
		}
	}
	clock.Advance(30 * time.Second) // the 30s timer ends
	assertMirror(t, m, s)
	if n := len(s.snapshot()); n != 1 {
		t.Fatalf("after a timer finished: %d stored, want 1", n)
	}
	if _, err := say(t, m, kitchen.DeviceID, "Kitchen", "HassCancelAllTimers", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	assertMirror(t, m, s)
	var kinds []timer.EventKind
	for len(events) > 0 {
		kinds = append(kinds, (<-events).Kind)
	}
	want := []timer.EventKind{timer.Started, timer.Started, timer.Updated, timer.Updated, timer.Updated, timer.Updated, timer.Cancelled, timer.Started, timer.Finished, timer.Cancelled}
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

func TestStoreFailureChangesNothing(t *testing.T) {
	// Each case starts from a running "pizza" timer and a paused "tea" one.
	tests := []struct {
		name   string
		intent string
		slots  map[string]any
	}{
		{"start", "HassStartTimer", map[string]any{"minutes": 3}},
		{"pause", "HassPauseTimer", map[string]any{"name": "pizza"}},
		{"resume", "HassUnpauseTimer", map[string]any{"name": "tea"}},
		{"add", "HassIncreaseTimer", map[string]any{"minutes": 1, "name": "pizza"}},
		{"add while paused", "HassIncreaseTimer", map[string]any{"minutes": 1, "name": "tea"}},
		{"remove", "HassDecreaseTimer", map[string]any{"minutes": 1, "name": "pizza"}},
		{"cancel", "HassCancelTimer", map[string]any{"name": "pizza"}},
		{"cancel all", "HassCancelAllTimers", map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemStore()
			m, clock := newStoredManager(t, s, nil)
			for _, name := range []string{"pizza", "tea"} {
				if _, err := say(t, m, kitchen.DeviceID, "Kitchen", "HassStartTimer", map[string]any{"minutes": 5, "name": name}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := say(t, m, kitchen.DeviceID, "Kitchen", "HassPauseTimer", map[string]any{"name": "tea"}); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute)
			before := s.snapshot()
			events, stop, err := m.Watch(kitchen)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()

			s.failAfter(0)
			speech, err := say(t, m, kitchen.DeviceID, "Kitchen", tt.intent, tt.slots)
			if !errors.Is(err, timer.ErrStore) || !errors.Is(err, errDown) {
				t.Fatalf("err %v, want ErrStore wrapping the store's error", err)
			}
			if speech != "Sorry, I couldn't change your timers right now" {
				t.Errorf("speech %q", speech)
			}
			assertMirror(t, m, s)
			if after := s.snapshot(); !maps.Equal(before, after) {
				t.Errorf("timers changed by a failed %s:\nbefore %+v\nafter  %+v", tt.name, before, after)
			}
			if len(events) != 0 {
				t.Errorf("a failed %s announced %+v", tt.name, <-events)
			}
			// The running timer still finishes on time once the store is back.
			s.failAfter(-1)
			clock.Advance(4 * time.Minute)
			assertMirror(t, m, s)
			if got := m.Find(kitchen, timer.Selector{Name: "pizza"}); len(got) != 0 {
				t.Errorf("pizza still there after its end: %+v", got)
			}
		})
	}
}

func TestCancelAllStopsAtStoreFailure(t *testing.T) {
	s := newMemStore()
	m, _ := newStoredManager(t, s, nil)
	for range 3 {
		if _, err := m.Start(timer.Timer{Owner: kitchen, Start: time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	s.failAfter(1)
	n, err := m.CancelAll(kitchen, timer.Selector{})
	if n != 1 || !errors.Is(err, timer.ErrStore) {
		t.Fatalf("CancelAll = %d, %v; want 1 and ErrStore", n, err)
	}
	assertMirror(t, m, s)
	if got := len(m.Find(kitchen, timer.Selector{})); got != 2 {
		t.Errorf("%d timers left, want 2", got)
	}
}

func TestFinishWaitsForTheStore(t *testing.T) {
	s := newMemStore()
	ran := make(chan timer.Timer, 2)
	m, clock := newStoredManager(t, s, func(tm timer.Timer) { ran <- tm })
	events, stop, err := m.Watch(kitchen)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := m.Start(timer.Timer{Owner: kitchen, Start: time.Minute, Command: "open the garage door"}); err != nil {
		t.Fatal(err)
	}
	<-events // started

	s.failAfter(0)
	clock.Advance(time.Minute)
	if len(events) != 0 {
		t.Fatalf("finished while the store still held it: %+v", <-events)
	}
	assertMirror(t, m, s)
	if got := m.Find(kitchen, timer.Selector{}); len(got) != 1 || got[0].Remaining(clock.Now()) != 0 {
		t.Fatalf("timer while its finish is pending: %+v", got)
	}

	s.failAfter(-1)
	clock.Advance(10 * time.Second) // the retry
	if ev := <-events; ev.Kind != timer.Finished {
		t.Fatalf("event %+v, want finished", ev)
	}
	assertMirror(t, m, s)
	if len(s.snapshot()) != 0 {
		t.Error("finished timer still stored")
	}
	select {
	case tm := <-ran:
		if tm.Command != "open the garage door" {
			t.Errorf("ran %+v", tm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the command did not run")
	}
	clock.Advance(time.Hour)
	select {
	case tm := <-ran:
		t.Errorf("command ran twice: %+v", tm)
	default:
	}
}

func TestTimerGoneFromStoreDoesNotFinish(t *testing.T) {
	s := newMemStore()
	ran := make(chan timer.Timer, 1)
	m, clock := newStoredManager(t, s, func(tm timer.Timer) { ran <- tm })
	events, stop, err := m.Watch(kitchen)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tm, err := m.Start(timer.Timer{Owner: kitchen, Start: time.Minute, Command: "turn off the oven"})
	if err != nil {
		t.Fatal(err)
	}
	<-events
	// As when its home is deleted, or another replica cancelled it.
	if err := s.Delete(context.Background(), tm.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	assertMirror(t, m, s)
	if len(events) != 0 {
		t.Errorf("announced %+v", <-events)
	}
	select {
	case got := <-ran:
		t.Errorf("command of a removed timer ran: %+v", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRestore(t *testing.T) {
	s := newMemStore()
	old, clock := newStoredManager(t, s, nil)
	start := func(owner timer.Owner, name string, d time.Duration, command string) {
		t.Helper()
		if _, err := old.Start(timer.Timer{Owner: owner, Name: name, Start: d, Command: command}); err != nil {
			t.Fatal(err)
		}
	}
	start(kitchen, "pizza", 10*time.Minute, "")
	start(kitchen, "oven", 2*time.Minute, "turn off the oven")
	start(bedroom, "nap", 20*time.Minute, "")
	if _, err := old.Pause(bedroom, timer.Selector{Name: "nap"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// The old Manager is gone (its clock never fires again); three minutes
	// later a new one starts on the same store.
	clock2 := timertest.NewClock(clock.Now().Add(3 * time.Minute))
	ran := make(chan timer.Timer, 2)
	m := timer.NewManager(timer.Options{Clock: clock2, Store: s, Finished: func(tm timer.Timer) { ran <- tm }})
	events, stop, err := m.Watch(kitchen)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := m.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The oven timer ended during the gap: it finishes at once.
	if ev := <-events; ev.Kind != timer.Finished || ev.Timer.Name != "oven" {
		t.Fatalf("event %+v, want oven finished", ev)
	}
	select {
	case tm := <-ran:
		if tm.Command != "turn off the oven" {
			t.Errorf("ran %+v", tm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the oven timer's command did not run")
	}
	assertMirror(t, m, s)
	now := clock2.Now()
	pizza := m.Find(kitchen, timer.Selector{Name: "pizza"})
	if len(pizza) != 1 || pizza[0].Remaining(now) != 6*time.Minute || pizza[0].Paused {
		t.Fatalf("pizza after restore: %+v", pizza)
	}
	nap := m.Find(bedroom, timer.Selector{Name: "nap"})
	if len(nap) != 1 || !nap[0].Paused || nap[0].Remaining(now) != 20*time.Minute {
		t.Fatalf("nap after restore: %+v", nap)
	}
	clock2.Advance(6 * time.Minute)
	if ev := <-events; ev.Kind != timer.Finished || ev.Timer.Name != "pizza" {
		t.Fatalf("event %+v, want pizza finished", ev)
	}
	assertMirror(t, m, s)
	if got := s.snapshot(); len(got) != 1 {
		t.Errorf("stored after pizza finished: %+v", got)
	}
	// Restoring again adds nothing twice.
	if err := m.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertMirror(t, m, s)
}

func TestRestoreLoadFailure(t *testing.T) {
	s := newMemStore()
	s.loadErr = errDown
	m, _ := newStoredManager(t, s, nil)
	if err := m.Restore(context.Background()); !errors.Is(err, errDown) {
		t.Fatalf("Restore: %v, want the store's error", err)
	}
}

func TestStartRefusesWhatNoStoreCanKeep(t *testing.T) {
	s := newMemStore()
	m, _ := newStoredManager(t, s, nil)
	long := strings.Repeat("ä", 1001)
	for _, tm := range []timer.Timer{
		{Owner: kitchen, Start: time.Minute, Name: long},
		{Owner: kitchen, Start: time.Minute, Command: long},
		{Owner: timer.Owner{HomeID: "h1", DeviceID: long}, Start: time.Minute},
	} {
		if _, err := m.Start(tm); !errors.Is(err, timer.ErrLimit) {
			t.Errorf("Start: %v, want ErrLimit", err)
		}
	}
	assertMirror(t, m, s)
}

// A Manager whose copy of a timer is stale (another Manager on the same
// Store paused it) does not finish it: finishing removes the timer only
// while the Store still has it running and due.
func TestStaleCopyDoesNotFinish(t *testing.T) {
	store := newMemStore()
	clock := timertest.NewClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	var finished []string
	var mu sync.Mutex
	a := timer.NewManager(timer.Options{Clock: clock, Store: store, Finished: func(tm timer.Timer) {
		mu.Lock()
		finished = append(finished, tm.Name)
		mu.Unlock()
	}})
	owner := timer.Owner{HomeID: "home-1", DeviceID: "kitchen"}
	if _, err := a.Start(timer.Timer{Owner: owner, Name: "tea", Start: time.Minute, Command: "x"}); err != nil {
		t.Fatal(err)
	}
	b := timer.NewManager(timer.Options{Clock: clock, Store: store})
	if err := b.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pause(owner, timer.Selector{Name: "tea"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	stored := store.snapshot()
	if len(stored) != 1 {
		t.Fatalf("store holds %d timers after the stale copy's end, want the paused one", len(stored))
	}
	for _, tm := range stored {
		if !tm.Paused {
			t.Fatalf("stored timer %+v is no longer paused", tm)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(finished) != 0 {
		t.Fatalf("stale copy finished %v", finished)
	}
	if got := a.Find(owner, timer.Selector{}); len(got) != 0 {
		t.Fatalf("the stale copy is still listed: %+v", got)
	}
}
