package postgres_test

import (
	"context"
	"errors"
	"strings"

	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/timer"
	"github.com/homeplane/homeplane/central/internal/timer/timertest"
)

func storedTimers(tb testing.TB, s *postgres.TimerStore) map[string]timer.Timer {
	tb.Helper()
	ts, err := s.Load(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]timer.Timer{}
	for _, t := range ts {
		out[t.ID] = t
	}
	return out
}

func TestTimersSurviveRestart(t *testing.T) {
	pool, url := pgtest.NewURL(t)
	seedHome(t, pool)
	ctx := context.Background()
	device := timer.Owner{HomeID: convHome, DeviceID: "kitchen-dev"}
	user := timer.Owner{HomeID: convHome, DeviceID: "user:" + convUser}

	t0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	clock := timertest.NewClock(t0)
	first := timer.NewManager(timer.Options{Clock: clock, Store: postgres.NewTimerStore(pool)})
	for _, tm := range []timer.Timer{
		{Owner: device, Name: "pizza", Area: "Kitchen", Start: 10 * time.Minute},
		{Owner: device, Name: "oven", Area: "Kitchen", Start: 2 * time.Minute, Command: "turn off the oven"},
		{Owner: user, Name: "nap", Start: 20 * time.Minute},
	} {
		if _, err := first.Start(tm); err != nil {
			t.Fatalf("start %s: %v", tm.Name, err)
		}
	}
	clock.Advance(time.Minute)
	if _, err := first.Pause(user, timer.Selector{Name: "nap"}); err != nil {
		t.Fatal(err)
	}
	// What is stored is what the Manager runs.
	stored := storedTimers(t, postgres.NewTimerStore(pool))
	for _, o := range []timer.Owner{device, user} {
		for _, mem := range first.Find(o, timer.Selector{}) {
			got, ok := stored[mem.ID]
			if !ok || got.Owner != mem.Owner || got.Name != mem.Name || got.Area != mem.Area || got.Start != mem.Start ||
				got.Paused != mem.Paused || got.Left != mem.Left || !got.EndsAt.Equal(mem.EndsAt) || got.Command != mem.Command {
				t.Errorf("stored %+v, memory %+v", got, mem)
			}
		}
	}
	if len(stored) != 3 {
		t.Fatalf("%d timers stored, want 3", len(stored))
	}

	// Central restarts four minutes later: the first Manager is dropped
	// without a word (its clock never moves again), and a new pool and
	// Manager open the same database.
	pool2, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	store := postgres.NewTimerStore(pool2)
	clock2 := timertest.NewClock(t0.Add(5 * time.Minute))
	ran := make(chan timer.Timer, 1)
	second := timer.NewManager(timer.Options{Clock: clock2, Store: store, Finished: func(tm timer.Timer) { ran <- tm }})
	events, stop, err := second.Watch(device)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := second.Restore(ctx); err != nil {
		t.Fatal(err)
	}

	// The oven timer ended at 8:02, while central was down.
	if ev := <-events; ev.Kind != timer.Finished || ev.Timer.Name != "oven" {
		t.Fatalf("event %+v, want the oven timer finished", ev)
	}
	select {
	case tm := <-ran:
		if tm.Command != "turn off the oven" || tm.Owner != device {
			t.Errorf("command run for %+v", tm)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the oven timer's command did not run")
	}
	now := clock2.Now()
	pizza := second.Find(device, timer.Selector{Name: "pizza"})
	if len(pizza) != 1 || pizza[0].Paused || pizza[0].Remaining(now) != 5*time.Minute || pizza[0].Area != "Kitchen" {
		t.Fatalf("pizza after the restart: %+v", pizza)
	}
	nap := second.Find(user, timer.Selector{Name: "nap"})
	if len(nap) != 1 || !nap[0].Paused || nap[0].Remaining(now) != 19*time.Minute {
		t.Fatalf("nap after the restart: %+v", nap)
	}
	if got := storedTimers(t, store); len(got) != 2 {
		t.Fatalf("stored after the restart: %+v", got)
	}

	// The restored timer runs on: it finishes on time and leaves the table.
	clock2.Advance(5 * time.Minute)
	if ev := <-events; ev.Kind != timer.Finished || ev.Timer.Name != "pizza" {
		t.Fatalf("event %+v, want pizza finished", ev)
	}
	if got := storedTimers(t, store); len(got) != 1 {
		t.Fatalf("stored after pizza finished: %+v", got)
	}

	// Deleting the home deletes its timers; the resumed one then ends
	// without a word.
	if _, err := second.Resume(user, timer.Selector{Name: "nap"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool2.Exec(ctx, "DELETE FROM homes WHERE id = $1", convHome); err != nil {
		t.Fatal(err)
	}
	clock2.Advance(19 * time.Minute)
	if got := second.Find(user, timer.Selector{}); len(got) != 0 {
		t.Errorf("timers of a deleted home: %+v", got)
	}
}

func TestTimerStoreBounds(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	ctx := context.Background()
	s := postgres.NewTimerStore(pool)
	ok := timer.Timer{ID: "0123456789abcdef01234567", Owner: timer.Owner{HomeID: convHome, DeviceID: "d1"}, Start: time.Minute, EndsAt: time.Now()}
	if err := s.Save(ctx, ok); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*timer.Timer)
	}{
		{"home not a uuid", func(t *timer.Timer) { t.Owner.HomeID = "h1" }},
		{"no such home", func(t *timer.Timer) { t.Owner.HomeID = convNone }},
		{"no owner", func(t *timer.Timer) { t.Owner.DeviceID = "" }},
		{"long owner", func(t *timer.Timer) { t.Owner.DeviceID = strings.Repeat("d", 129) }},
		{"long name", func(t *timer.Timer) { t.Name = strings.Repeat("ä", 1001) }},
		{"long command", func(t *timer.Timer) { t.Command = strings.Repeat("ä", 1001) }},
		{"no duration", func(t *timer.Timer) { t.Start = 0 }},
		{"over a week", func(t *timer.Timer) { t.Start = 8 * 24 * time.Hour }},
		{"paused with negative time", func(t *timer.Timer) { t.Paused, t.Left = true, -time.Second }},
		{"long id", func(t *timer.Timer) { t.ID = strings.Repeat("a", 65) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := ok
			bad.ID = "fedcba9876543210fedcba98"
			tt.edit(&bad)
			if err := s.Save(ctx, bad); err == nil {
				t.Errorf("saved %+v", bad)
			}
		})
	}
	if got := storedTimers(t, s); len(got) != 1 {
		t.Errorf("stored %+v, want only the valid timer", got)
	}
	if err := s.Delete(ctx, "nothere"); !errors.Is(err, timer.ErrNotFound) {
		t.Errorf("Delete of a missing timer: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, ok.ID); err != nil {
		t.Fatal(err)
	}
	if got := storedTimers(t, s); len(got) != 0 {
		t.Errorf("stored after delete: %+v", got)
	}
}
