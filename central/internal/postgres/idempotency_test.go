package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/idempotency"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

func TestIdempotencyKeysRunOnce(t *testing.T) {
	pool := pgtest.New(t)
	k := &idempotency.Keeper{Store: postgres.NewIdempotencyStore(pool), Poll: 5 * time.Millisecond}
	ctx := context.Background()
	alice, bob := idempotency.UserScope("alice"), idempotency.UserScope("bob")
	fp := idempotency.Fingerprint("Process", []byte("turn on the lights"))
	var runs atomic.Int32
	work := func(answer string) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) { runs.Add(1); return []byte(answer), nil }
	}

	got, replayed, err := k.Do(ctx, alice, "k1", fp, work("first"))
	if err != nil || replayed || string(got) != "first" {
		t.Fatalf("first Do = %q, %v, %v", got, replayed, err)
	}
	got, replayed, err = k.Do(ctx, alice, "k1", fp, work("second"))
	if err != nil || !replayed || string(got) != "first" || runs.Load() != 1 {
		t.Fatalf("repeat = %q, replayed %v, %v after %d runs; want the first answer, one run", got, replayed, err, runs.Load())
	}
	// Another caller's key of the same name is another key.
	got, replayed, err = k.Do(ctx, bob, "k1", fp, work("bob's"))
	if err != nil || replayed || string(got) != "bob's" {
		t.Fatalf("bob's Do = %q, %v, %v", got, replayed, err)
	}
	// The same key with another request is refused.
	other := idempotency.Fingerprint("Process", []byte("turn off the lights"))
	if _, _, err := k.Do(ctx, alice, "k1", other, work("x")); !errors.Is(err, idempotency.ErrMismatch) {
		t.Fatalf("key reused for another request: %v, want ErrMismatch", err)
	}
	// A failed run frees the key: the retry runs.
	fail := errors.New("home did not answer")
	if _, _, err := k.Do(ctx, alice, "k2", fp, func(context.Context) ([]byte, error) { return nil, fail }); !errors.Is(err, fail) {
		t.Fatalf("failing work: %v", err)
	}
	if got, replayed, err := k.Do(ctx, alice, "k2", fp, work("retried")); err != nil || replayed || string(got) != "retried" {
		t.Fatalf("retry after a failure = %q, %v, %v", got, replayed, err)
	}
	for _, bad := range []string{"", "has space", string(make([]byte, 129))} {
		if _, _, err := k.Do(ctx, alice, bad, fp, work("x")); !errors.Is(err, idempotency.ErrInvalidKey) {
			t.Errorf("key %q: %v, want ErrInvalidKey", bad, err)
		}
	}
}

func TestIdempotencyConcurrentDuplicatesWait(t *testing.T) {
	pool := pgtest.New(t)
	k := &idempotency.Keeper{Store: postgres.NewIdempotencyStore(pool), Poll: 5 * time.Millisecond}
	scope := idempotency.DeviceScope("kitchen")
	fp := idempotency.Fingerprint("Process", []byte("x"))
	var runs atomic.Int32
	release := make(chan struct{})
	const n = 8
	answers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var b []byte
			b, _, errs[i] = k.Do(ctx, scope, "same", fp, func(context.Context) ([]byte, error) {
				runs.Add(1)
				<-release
				return []byte("once"), nil
			})
			answers[i] = string(b)
		}()
	}
	waitFor(t, "one run to start", 5*time.Second, func() bool { return runs.Load() == 1 })
	// A caller that gives up while the first runs gets a retryable answer.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, _, err := k.Do(ctx, scope, "same", fp, func(context.Context) ([]byte, error) { return nil, nil }); !errors.Is(err, idempotency.ErrInProgress) {
		t.Errorf("impatient duplicate: %v, want ErrInProgress", err)
	}
	cancel()
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || answers[i] != "once" {
			t.Errorf("duplicate %d = %q, %v", i, answers[i], errs[i])
		}
	}
	if runs.Load() != 1 {
		t.Errorf("work ran %d times, want once", runs.Load())
	}
}

// A claim whose replica died (no renewal) is taken over once its lease
// lapses.
func TestIdempotencyClaimOfDeadReplicaIsTakenOver(t *testing.T) {
	pool := pgtest.New(t)
	s := postgres.NewIdempotencyStore(pool)
	ctx := context.Background()
	c := idempotency.Claim{Scope: idempotency.UserScope("alice"), Key: "k", Fingerprint: []byte{1},
		Lease: 200 * time.Millisecond, TTL: time.Hour, MaxKeys: 10}
	if st, _, err := s.Claim(ctx, c); err != nil || st != idempotency.Claimed {
		t.Fatalf("first claim: %v, %v", st, err)
	}
	if st, _, err := s.Claim(ctx, c); err != nil || st != idempotency.Running {
		t.Fatalf("claim while running: %v, %v; want Running", st, err)
	}
	waitFor(t, "the dead claim to be taken over", 5*time.Second, func() bool {
		st, _, err := s.Claim(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return st == idempotency.Claimed
	})
	if err := s.Complete(ctx, c.Scope, c.Key, []byte("answer")); err != nil {
		t.Fatal(err)
	}
	if st, ans, err := s.Claim(ctx, c); err != nil || st != idempotency.Done || string(ans) != "answer" {
		t.Fatalf("after completion: %v %q %v", st, ans, err)
	}
}

// A caller holds a bounded number of live keys; expired ones are free.
func TestIdempotencyKeysBoundedAndExpire(t *testing.T) {
	pool := pgtest.New(t)
	s := postgres.NewIdempotencyStore(pool)
	ctx := context.Background()
	scope := idempotency.UserScope("alice")
	claim := func(key string, ttl time.Duration) (idempotency.State, error) {
		st, _, err := s.Claim(ctx, idempotency.Claim{Scope: scope, Key: key, Fingerprint: []byte{1},
			Lease: time.Minute, TTL: ttl, MaxKeys: 3})
		return st, err
	}
	for i := range 3 {
		if _, err := claim("k"+strconv.Itoa(i), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := claim("k3", time.Hour); !errors.Is(err, idempotency.ErrTooMany) {
		t.Fatalf("fourth key: %v, want ErrTooMany", err)
	}
	// Another caller is not limited by alice's keys.
	if st, _, err := s.Claim(ctx, idempotency.Claim{Scope: idempotency.UserScope("bob"), Key: "k3", Fingerprint: []byte{1},
		Lease: time.Minute, TTL: time.Hour, MaxKeys: 3}); err != nil || st != idempotency.Claimed {
		t.Fatalf("bob's key: %v, %v", st, err)
	}
	// Once alice's keys expire she may use new ones.
	if _, err := pool.Exec(ctx, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE scope = 'user:alice'"); err != nil {
		t.Fatal(err)
	}
	if st, err := claim("k3", time.Hour); err != nil || st != idempotency.Claimed {
		t.Fatalf("alice's key after hers expired: %v, %v", st, err)
	}
	// The purge removes what expired, not what is live.
	if _, err := pool.Exec(ctx, "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE scope = 'user:bob'"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeIdempotencyKeys(ctx, 100); err != nil || n < 1 {
		t.Fatalf("purge = %d, %v; want at least bob's expired key", n, err)
	}
	var expired, live int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE expires_at <= now()),
		count(*) FILTER (WHERE expires_at > now()) FROM idempotency_keys`).Scan(&expired, &live); err != nil {
		t.Fatal(err)
	}
	if expired != 0 || live != 1 {

		t.Fatalf("after the purge %d expired and %d live keys; want 0 and alice's k3", expired, live)
	}
}

// BenchmarkIdempotencyKeyedCall is what a key adds to a call: the claim
// and the stored answer (a new key), or the replay (a repeated one).
func BenchmarkIdempotencyKeyedCall(b *testing.B) {
	pool := pgtest.New(b)
	k := &idempotency.Keeper{Store: postgres.NewIdempotencyStore(pool)}
	ctx := context.Background()
	scope := idempotency.UserScope("bench")
	fp := idempotency.Fingerprint("Process", []byte("turn on the lights"))
	answer := make([]byte, 300) // about a ProcessResponse
	work := func(context.Context) ([]byte, error) { return answer, nil }
	b.Run("new key", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if _, _, err := k.Do(ctx, scope, "n"+strconv.Itoa(i), fp, work); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("repeat", func(b *testing.B) {
		if _, _, err := k.Do(ctx, scope, "r", fp, work); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, replayed, err := k.Do(ctx, scope, "r", fp, work); err != nil || !replayed {
				b.Fatal(replayed, err)
			}
		}
	})
}
