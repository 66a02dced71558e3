package home_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// clock is a settable time source that ticks a millisecond per reading, so
// that creation order is also time order.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	svc   *home.Service
	store *postgres.HomeStore
	users *postgres.AuthStore
	clock *clock
}

func newEnv(tb testing.TB, opts home.Options) env {
	tb.Helper()
	pool := pgtest.New(tb)
	clk := &clock{t: time.Now().UTC().Truncate(time.Microsecond)}
	opts.Now = clk.Now
	store := postgres.NewHomeStore(pool)
	return env{svc: home.NewService(store, opts), store: store, users: postgres.NewAuthStore(pool), clock: clk}
}

var userSeq struct {
	sync.Mutex
	n int
}

// newUser stores a user directly; password handling is auth's concern.
func newUser(tb testing.TB, e env) string {
	tb.Helper()
	userSeq.Lock()
	userSeq.n++
	n := userSeq.n
	userSeq.Unlock()
	id := "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(itoa(n))) + itoa(n)
	_, err := e.users.CreateUser(context.Background(), auth.User{
		ID: id, Email: "user" + itoa(n) + "@example.com", Role: auth.RoleUser, CreatedAt: time.Now(),
	}, "$argon2id$unused")
	if err != nil {
		tb.Fatalf("CreateUser: %v", err)
	}
	return id
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func mustCreate(tb testing.TB, e env, owner, name string) home.Home {
	tb.Helper()
	h, err := e.svc.Create(context.Background(), owner, name)
	if err != nil {
		tb.Fatalf("Create(%q): %v", name, err)
	}
	return h
}

func enroll(tb testing.TB, e env, owner, homeID string) (home.Agent, string) {
	tb.Helper()
	ctx := context.Background()
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, owner, homeID, 0)
	if err != nil {
		tb.Fatalf("CreateEnrollmentToken: %v", err)
	}
	a, secret, err := e.svc.Enroll(ctx, tok, "server.local", "1.0.0")
	if err != nil {
		tb.Fatalf("Enroll: %v", err)
	}
	return a, secret
}

func TestHomeLifecycle(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	owner := newUser(t, e)

	h := mustCreate(t, e, owner, "  Beach house ")
	if h.Name != "Beach house" || h.OwnerID != owner || !home.ValidID(h.ID) || h.Enrolled {
		t.Fatalf("created home = %+v", h)
	}
	second := mustCreate(t, e, owner, "Flat")
	list, err := e.svc.List(ctx, owner)
	if err != nil || len(list) != 2 || list[0].ID != h.ID || list[1].ID != second.ID {
		t.Fatalf("List = %+v, %v", list, err)
	}
	got, err := e.svc.Get(ctx, owner, h.ID)
	if err != nil || got.Name != "Beach house" {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	enroll(t, e, owner, h.ID)
	if got, _ := e.svc.Get(ctx, owner, h.ID); !got.Enrolled {
		t.Fatal("home not marked enrolled after Enroll")
	}
	if err := e.svc.Delete(ctx, owner, h.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := e.svc.Get(ctx, owner, h.ID); !errors.Is(err, home.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v", err)
	}
	if err := e.svc.Delete(ctx, owner, h.ID); !errors.Is(err, home.ErrNotFound) {
		t.Fatalf("second Delete: err = %v", err)
	}
}

func TestCreateRejects(t *testing.T) {
	e := newEnv(t, home.Options{MaxHomesPerOwner: 2})
	owner := newUser(t, e)
	tests := []struct{ name, home string }{
		{"empty", "   "},
		{"too long", strings.Repeat("x", 101)},
		{"control character", "a\x00b"},
		{"invalid utf-8", "a\xffb"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.Create(context.Background(), owner, tc.home); !errors.Is(err, home.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
	t.Run("limit", func(t *testing.T) {
		mustCreate(t, e, owner, "one")
		mustCreate(t, e, owner, "two")
		_, err := e.svc.Create(context.Background(), owner, "three")
		if !errors.Is(err, home.ErrInvalidInput) || !strings.Contains(err.Error(), "at most 2 homes") {
			t.Fatalf("err = %v, want the home limit", err)
		}
	})
}

// Someone else's home must look exactly like a missing one, in every call.
func TestOtherOwnersHomeIsNotFound(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	alice, bob := newUser(t, e), newUser(t, e)
	h := mustCreate(t, e, alice, "Alice's")
	dev, _, err := e.svc.RegisterDevice(ctx, alice, h.ID, "Kitchen speaker", "kitchen")
	if err != nil {
		t.Fatal(err)
	}

	for _, target := range []struct{ name, homeID string }{
		{"someone else's", h.ID},
		{"missing", "11111111-2222-4333-8444-555555555555"},
		{"malformed", "not-a-uuid"},
		{"uppercase", strings.ToUpper(h.ID)},
	} {
		calls := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := e.svc.Get(ctx, bob, target.homeID); return err }},
			{"Delete", func() error { return e.svc.Delete(ctx, bob, target.homeID) }},
			{"CreateEnrollmentToken", func() error {
				_, _, err := e.svc.CreateEnrollmentToken(ctx, bob, target.homeID, 0)
				return err
			}},
			{"RegisterDevice", func() error {
				_, _, err := e.svc.RegisterDevice(ctx, bob, target.homeID, "Mine now", "")
				return err
			}},
			{"ListDevices", func() error { _, err := e.svc.ListDevices(ctx, bob, target.homeID); return err }},
			{"RevokeDevice", func() error { return e.svc.RevokeDevice(ctx, bob, target.homeID, dev.ID) }},
			{"SetSensitivePolicy", func() error {
				_, err := e.svc.SetSensitivePolicy(ctx, bob, target.homeID, home.PolicyAllow)
				return err
			}},
		}
		for _, c := range calls {
			t.Run(target.name+"/"+c.name, func(t *testing.T) {
				if err := c.call(); !errors.Is(err, home.ErrNotFound) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
			})
		}
	}
	if list, err := e.svc.List(ctx, bob); err != nil || len(list) != 0 {
		t.Fatalf("List(bob) = %+v, %v", list, err)
	}
	// Bob's own home cannot be used to reach Alice's device either.
	bobs := mustCreate(t, e, bob, "Bob's")
	if err := e.svc.RevokeDevice(ctx, bob, bobs.ID, dev.ID); !errors.Is(err, home.ErrNotFound) {
		t.Fatalf("RevokeDevice through own home: err = %v", err)
	}
	// Nothing of Alice's changed.
	if _, err := e.svc.Get(ctx, alice, h.ID); err != nil {
		t.Fatalf("Alice's home after Bob's attempts: %v", err)
	}
	if ds, err := e.svc.ListDevices(ctx, alice, h.ID); err != nil || len(ds) != 1 || ds[0].Revoked {
		t.Fatalf("Alice's devices after Bob's attempts = %+v, %v", ds, err)
	}
}

func TestEnrollmentTokenSingleUseUnderRace(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")
	tok, _, err := e.svc.CreateEnrollmentToken(ctx, owner, h.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "hpe_") {
		t.Fatalf("enrollment token %q lacks its prefix", tok)
	}

	const n = 2
	var wg sync.WaitGroup
	agents := make([]home.Agent, n)
	secrets := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			agents[i], secrets[i], errs[i] = e.svc.Enroll(ctx, tok, "host", "1.0")
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatal("both racing agents enrolled with one token")
			}
			winner = i
		case !errors.Is(err, home.ErrUnauthenticated):
			t.Fatalf("loser: err = %v, want ErrUnauthenticated", err)
		}
	}
	if winner < 0 {
		t.Fatal("no agent enrolled")
	}
	if agents[winner].HomeID != h.ID {
		t.Fatalf("agent home = %q, want %q", agents[winner].HomeID, h.ID)
	}
	homeID, err := e.svc.AuthenticateAgent(ctx, agents[winner].ID, secrets[winner])
	if err != nil || homeID != h.ID {
		t.Fatalf("AuthenticateAgent = %q, %v", homeID, err)
	}
	if _, _, err := e.svc.Enroll(ctx, tok, "host", "1.0"); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("third use: err = %v", err)
	}
}

func TestEnrollmentTokenExpiry(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")

	for _, tc := range []struct {
		name string
		ttl  time.Duration
		ok   bool
	}{
		{"default", 0, true},
		{"seven days", 7 * 24 * time.Hour, true},
		{"over seven days", 7*24*time.Hour + time.Second, false},
		{"negative", -time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, exp, err := e.svc.CreateEnrollmentToken(ctx, owner, h.ID, tc.ttl)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, home.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
			if tc.name == "default" {
				if d := exp.Sub(e.clock.Now()); d <= 59*time.Minute || d > time.Hour {
					t.Fatalf("default token expires in %v, want 1h", d)
				}
			}
		})
	}

	tok, _, err := e.svc.CreateEnrollmentToken(ctx, owner, h.ID, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if _, _, err := e.svc.Enroll(ctx, tok, "host", "1.0"); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("Enroll with an expired token: err = %v", err)
	}
}

func TestReenrollReplacesAgent(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")

	old, oldSecret := enroll(t, e, owner, h.ID)
	if _, err := e.svc.AuthenticateAgent(ctx, old.ID, oldSecret); err != nil {
		t.Fatalf("first agent: %v", err) // also warms the cache
	}
	fresh, freshSecret := enroll(t, e, owner, h.ID)
	if fresh.ID == old.ID {
		t.Fatal("re-enrolling kept the agent id")
	}
	if _, err := e.svc.AuthenticateAgent(ctx, old.ID, oldSecret); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("replaced agent: err = %v, want ErrUnauthenticated", err)
	}
	if got, err := e.svc.AuthenticateAgent(ctx, fresh.ID, freshSecret); err != nil || got != h.ID {
		t.Fatalf("new agent = %q, %v", got, err)
	}
}

func TestAuthenticateAgentRejects(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")
	a, secret := enroll(t, e, owner, h.ID)
	other := mustCreate(t, e, owner, "Other")
	b, otherSecret := enroll(t, e, owner, other.ID)

	// The last character changed, whatever it was.
	last := "A"
	if strings.HasSuffix(secret, last) {
		last = "B"
	}
	tests := []struct{ name, id, secret string }{
		{"wrong secret", a.ID, secret[:len(secret)-1] + last},
		{"another agent's secret", a.ID, otherSecret},
		{"empty secret", a.ID, ""},
		{"unknown agent", "11111111-2222-4333-8444-555555555555", secret},
		{"malformed id", "agent", secret},
		{"huge secret", a.ID, strings.Repeat("x", 1<<20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.svc.AuthenticateAgent(ctx, tc.id, tc.secret); !errors.Is(err, home.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
		})
	}
	if got, err := e.svc.AuthenticateAgent(ctx, b.ID, otherSecret); err != nil || got != other.ID {
		t.Fatalf("valid agent = %q, %v", got, err)
	}
}

func TestDevices(t *testing.T) {
	e := newEnv(t, home.Options{MaxDevicesPerHome: 2})
	ctx := context.Background()
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")

	d, tok, err := e.svc.RegisterDevice(ctx, owner, h.ID, " Kitchen speaker ", "kitchen")
	if err != nil {
		t.Fatalf("RegisterDevice: %v", err)
	}
	if !strings.HasPrefix(tok, "hpd_") || d.Name != "Kitchen speaker" || d.Area != "kitchen" || d.HomeID != h.ID {
		t.Fatalf("device = %+v, token %q", d, tok)
	}
	for range 2 { // the second call is served from the cache
		got, err := e.svc.AuthenticateDevice(ctx, tok)
		if err != nil || got.ID != d.ID || got.HomeID != h.ID || got.Area != "kitchen" {
			t.Fatalf("AuthenticateDevice = %+v, %v", got, err)
		}
	}
	d2, tok2, err := e.svc.RegisterDevice(ctx, owner, h.ID, "Hall", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.RegisterDevice(ctx, owner, h.ID, "Third", ""); !errors.Is(err, home.ErrInvalidInput) {
		t.Fatalf("device over the limit: err = %v", err)
	}

	if err := e.svc.RevokeDevice(ctx, owner, h.ID, d.ID); err != nil {
		t.Fatalf("RevokeDevice: %v", err)
	}
	if _, err := e.svc.AuthenticateDevice(ctx, tok); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("revoked device token: err = %v, want ErrUnauthenticated", err)
	}
	if err := e.svc.RevokeDevice(ctx, owner, h.ID, d.ID); err != nil {
		t.Fatalf("second RevokeDevice: %v", err)
	}
	ds, err := e.svc.ListDevices(ctx, owner, h.ID)
	if err != nil || len(ds) != 2 || ds[0].ID != d.ID || !ds[0].Revoked || ds[1].ID != d2.ID || ds[1].Revoked {
		t.Fatalf("ListDevices = %+v, %v", ds, err)
	}
	// A revoked device frees its slot.
	if _, _, err := e.svc.RegisterDevice(ctx, owner, h.ID, "Third", ""); err != nil {
		t.Fatalf("device after a revocation: %v", err)
	}

	// Deleting the home ends its devices' tokens at once, cache included.
	if _, err := e.svc.AuthenticateDevice(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Delete(ctx, owner, h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateDevice(ctx, tok2); !errors.Is(err, home.ErrUnauthenticated) {
		t.Fatalf("device of a deleted home: err = %v", err)
	}
}

func TestAuthenticateDeviceRejects(t *testing.T) {
	e := newEnv(t, home.Options{})
	for _, tok := range []string{"", "hpd_", "hpd_" + strings.Repeat("A", 43), "hpe_" + strings.Repeat("A", 43), strings.Repeat("x", 1<<16)} {
		if _, err := e.svc.AuthenticateDevice(context.Background(), tok); !errors.Is(err, home.ErrUnauthenticated) {
			t.Errorf("AuthenticateDevice(%.12q): err = %v", tok, err)
		}
	}
}

func TestRegisterDeviceRejects(t *testing.T) {
	e := newEnv(t, home.Options{})
	owner := newUser(t, e)
	h := mustCreate(t, e, owner, "Home")
	for _, tc := range []struct{ name, device, area string }{
		{"empty name", "", "kitchen"},
		{"long area", "Speaker", strings.Repeat("a", 101)},
		{"newline in name", "a\nb", ""},
		{"right-to-left override in name", "Kitchen\u202e", ""},
		{"isolate in area", "Speaker", "\u2067hall\u2069"},
		{"zero-width space in name", "Hall\u200b", ""},
		{"byte order mark in area", "Speaker", "\ufeffhall"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := e.svc.RegisterDevice(context.Background(), owner, h.ID, tc.device, tc.area); !errors.Is(err, home.ErrInvalidInput) {
				t.Fatalf("err = %v, want ErrInvalidInput", err)
			}
		})
	}
}

func TestNamesMayUseJoiners(t *testing.T) {
	// The zero-width joiner and non-joiner are part of emoji and of some
	// scripts' spelling; they stay allowed where the invisible ones are not.
	for _, name := range []string{"\U0001F468\u200d\U0001F469\u200d\U0001F467 room", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"} {
		if _, err := home.CheckName("name", name, false); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for _, r := range []rune{'\u202e', '\u2066', '\u200b', '\u2060', '\ufeff', '\u00ad'} {
		if !home.Invisible(r) {
			t.Errorf("Invisible(%U) = false", r)
		}
	}
	for _, r := range []rune{'\u200d', '\u200c', 'a', ' ', '\u00e9'} {
		if home.Invisible(r) {
			t.Errorf("Invisible(%U) = true", r)
		}
	}
}

func TestSensitivePolicy(t *testing.T) {
	e := newEnv(t, home.Options{})
	ctx := context.Background()
	alice := newUser(t, e)
	h := mustCreate(t, e, alice, "Alice's")
	if h.SensitivePolicy != home.PolicyAllow {
		t.Fatalf("new home's policy %q, want allow", h.SensitivePolicy)
	}
	got, err := e.svc.SetSensitivePolicy(ctx, alice, h.ID, home.PolicyConfirm)
	if err != nil || got.SensitivePolicy != home.PolicyConfirm {
		t.Fatalf("SetSensitivePolicy = %+v, %v", got, err)
	}
	if g, err := e.svc.Get(ctx, alice, h.ID); err != nil || g.SensitivePolicy != home.PolicyConfirm {
		t.Fatalf("Get after set = %+v, %v", g, err)
	}
	// The engine reads it by home id alone.
	if p, err := e.store.SensitivePolicy(ctx, h.ID); err != nil || p != intent.PolicyConfirm {
		t.Fatalf("store policy = %q, %v", p, err)
	}
	if _, err := e.svc.SetSensitivePolicy(ctx, alice, h.ID, "sometimes"); !errors.Is(err, home.ErrInvalidInput) {
		t.Fatalf("unknown policy: err = %v", err)
	}
	if g, _ := e.svc.Get(ctx, alice, h.ID); g.SensitivePolicy != home.PolicyConfirm {
		t.Fatalf("a refused change changed the policy to %q", g.SensitivePolicy)
	}
}
