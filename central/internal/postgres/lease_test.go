package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// dyingLease is a lease whose holder can die: from then on it neither
// renews nor releases, as a killed process would not.
type dyingLease struct {
	*postgres.Lease
	dead atomic.Bool
}

var errDead = errors.New("process killed")

func (l *dyingLease) Hold(ctx context.Context, holder string, ttl time.Duration) (bool, error) {
	if l.dead.Load() {
		return false, errDead
	}
	return l.Lease.Hold(ctx, holder, ttl)
}

func (l *dyingLease) Release(ctx context.Context, holder string) error {
	if l.dead.Load() {
		return errDead
	}
	return l.Lease.Release(ctx, holder)
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two replicas on one database: exactly one finishes the timers; when it
// dies without a word, the other takes over once its lease lapses, and
// every timer finishes exactly once, none lost.
func TestTimerLeaseOneOwnerAndTakeover(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	const ttl = 600 * time.Millisecond

	var mu sync.Mutex
	finished := map[string][]string{} // timer name -> replicas that finished it
	newReplica := func(name string, lease timer.Lease) *timer.Manager {
		return timer.NewManager(timer.Options{
			Store: postgres.NewTimerStore(pool), Lease: lease, Holder: name, LeaseTTL: ttl,
			Finished: func(tm timer.Timer) {
				mu.Lock()
				finished[tm.Name] = append(finished[tm.Name], name)
				mu.Unlock()
			},
		})
	}
	doneBy := func(name string) []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), finished[name]...)
	}
	leaseA := &dyingLease{Lease: postgres.NewLease(pool, "timers")}
	a := newReplica("a", leaseA)
	b := newReplica("b", postgres.NewLease(pool, "timers"))
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stopA(); stopB(); wg.Wait() }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = a.RunLease(ctxA) }()
	waitFor(t, "replica a to take the lease", 5*time.Second, a.Holds)
	wg.Add(1)
	go func() { defer wg.Done(); _ = b.RunLease(ctxB) }()

	// Timers set through the replica that does not hold the lease are run
	// by the one that does.
	owner := timer.Owner{HomeID: convHome, DeviceID: "kitchen"}
	for _, tm := range []timer.Timer{
		{Owner: owner, Name: "short", Start: 300 * time.Millisecond, Command: "turn off the oven"},
		{Owner: owner, Name: "long", Start: 2500 * time.Millisecond, Command: "turn on the light"},
	} {
		if _, err := b.Start(tm); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the short timer to finish", 10*time.Second, func() bool { return len(doneBy("short")) > 0 })
	if got := doneBy("short"); len(got) != 1 || got[0] != "a" {
		t.Fatalf("short timer finished by %v, want once by the holder a", got)
	}
	if b.Holds() {
		t.Fatal("both replicas hold the timer lease")
	}

	// a dies: no renewal, no release. A timer due while no one holds the
	// lease still finishes, late, once.
	leaseA.dead.Store(true)
	stopA()
	if _, err := b.Start(timer.Timer{Owner: owner, Name: "gap", Start: 100 * time.Millisecond, Command: "lock the door"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to take the lease over", 10*time.Second, b.Holds)
	waitFor(t, "the gap and long timers to finish", 15*time.Second, func() bool {
		return len(doneBy("gap")) > 0 && len(doneBy("long")) > 0
	})
	// One more sync round: nothing finishes twice.
	waitFor(t, "a further sync", 5*time.Second, func() bool {
		var n int
		if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM timers").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	for _, name := range []string{"short", "long", "gap"} {
		if got := doneBy(name); len(got) != 1 {
			t.Errorf("timer %s finished by %v, want exactly once", name, got)
		}
	}
	if got := doneBy("gap"); len(got) == 1 && got[0] != "b" {
		t.Errorf("gap timer finished by %v, want the new holder b", got)
	}
	if ts := b.Find(owner, timer.Selector{}); len(ts) != 0 {
		t.Errorf("replica b still lists %d finished timers", len(ts))
	}
}

// A timer paused through the replica that does not hold the lease is not
// finished by the holder's stale copy; resumed, it finishes once.
func TestTimerChangedOnAnotherReplica(t *testing.T) {
	pool := pgtest.New(t)
	seedHome(t, pool)
	var mu sync.Mutex
	var finished []string
	newReplica := func(name string) *timer.Manager {
		return timer.NewManager(timer.Options{
			Store: postgres.NewTimerStore(pool), Lease: postgres.NewLease(pool, "timers"), Holder: name, LeaseTTL: 600 * time.Millisecond,
			Finished: func(tm timer.Timer) { mu.Lock(); finished = append(finished, name); mu.Unlock() },
		})
	}
	done := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), finished...) }
	a, b := newReplica("a"), newReplica("b")
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = a.RunLease(ctx) }()
	waitFor(t, "replica a to take the lease", 5*time.Second, a.Holds)
	wg.Add(1)
	go func() { defer wg.Done(); _ = b.RunLease(ctx) }()

	owner := timer.Owner{HomeID: convHome, DeviceID: "kitchen"}
	started, err := a.Start(timer.Timer{Owner: owner, Name: "tea", Start: 1500 * time.Millisecond, Command: "turn on the kettle light"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to see the timer", 5*time.Second, func() bool { return len(b.Find(owner, timer.Selector{})) == 1 })
	if _, err := b.Pause(owner, timer.Selector{Name: "tea"}); err != nil {
		t.Fatal(err)
	}
	// Past the original end, and a sync later: nothing finished, still paused.
	waitFor(t, "the original end and a sync", 10*time.Second, func() bool {
		ts := a.Find(owner, timer.Selector{})
		return time.Now().After(started.EndsAt.Add(300*time.Millisecond)) && len(ts) == 1 && ts[0].Paused
	})
	if got := done(); len(got) != 0 {
		t.Fatalf("paused timer finished by %v", got)
	}
	if _, err := b.Resume(owner, timer.Selector{Name: "tea"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed timer to finish", 10*time.Second, func() bool { return len(done()) > 0 })
	waitFor(t, "every replica to forget it", 5*time.Second, func() bool {
		return len(a.Find(owner, timer.Selector{})) == 0 && len(b.Find(owner, timer.Selector{})) == 0
	})
	if got := done(); len(got) != 1 || got[0] != "a" {
		t.Fatalf("finished by %v, want once by the holder a", got)
	}
}
