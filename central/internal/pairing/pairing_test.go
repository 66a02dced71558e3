package pairing_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is the pairing service over a real database, with alice owning
// a home and bob owning another.
type fixture struct {
	svc              *pairing.Service
	homes            *home.Service
	pool             *pgxpool.Pool
	clock            *clock
	alice, bob       string
	aliceHome, bobHm string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	f := &fixture{pool: pool, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	authStore := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, authStore, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accounts := auth.NewService(authStore, keys, auth.Options{Notifier: postgres.NewOutbox(pool)})
	for email, u := range map[string]*string{"alice@example.com": &f.alice, "bob@example.com": &f.bob} {
		created, err := accounts.CreateUser(ctx, email, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		*u = created.ID
	}
	// The real home service, with the device cache off so a revocation
	// is seen at once.
	f.homes = home.NewService(postgres.NewHomeStore(pool), home.Options{CacheTTL: -1, MaxDevicesPerHome: 1 << 20})
	a, err := f.homes.Create(ctx, f.alice, "Alice's flat")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.homes.Create(ctx, f.bob, "Bob's house")
	if err != nil {
		t.Fatal(err)
	}
	f.aliceHome, f.bobHm = a.ID, b.ID
	w := audit.NewWriter(postgres.NewAuditStore(pool), audit.Options{})
	t.Cleanup(func() { w.Close() })
	f.svc = pairing.NewService(postgres.NewPairingStore(pool), f.homes, w, pairing.Options{Now: f.clock.Now})
	return f
}

func (f *fixture) poll(t *testing.T, code string, want pairing.Status) pairing.Polled {
	t.Helper()
	p, _, _, err := f.svc.Poll(context.Background(), code)
	if err != nil || p.Status != want {
		t.Fatalf("poll = %v (%s), %v; want %s", p.Status, p.Status.RFCError(), err, want.RFCError())
	}
	return p
}

// auditCount counts the pairing records with the outcome.
func (f *fixture) auditCount(t *testing.T, outcome string) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_records WHERE kind = 'pairing' AND outcome = $1",
		outcome).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPairingApprovedOnceWithSlowDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g, err := f.svc.Start(ctx, "Kitchen satellite")
	if err != nil {
		t.Fatal(err)
	}
	if len(g.UserCode) != 9 || g.UserCode[4] != '-' || g.Interval != 5*time.Second || g.ExpiresIn != 10*time.Minute {
		t.Fatalf("grant %+v", g)
	}
	f.poll(t, g.DeviceCode, pairing.StatusPending)
	// Again at once: too early, and the interval grows by 5 s.
	p := f.poll(t, g.DeviceCode, pairing.StatusSlowDown)
	if p.Interval != 10*time.Second {
		t.Fatalf("interval after slow_down = %s, want 10s", p.Interval)
	}
	f.clock.add(6 * time.Second)
	f.poll(t, g.DeviceCode, pairing.StatusSlowDown) // 6 s < the new 10 s
	f.clock.add(16 * time.Second)
	f.poll(t, g.DeviceCode, pairing.StatusPending)

	// Bob cannot put the device in alice's home, nor see her code once
	// she approved it.
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.bob}, g.UserCode, f.aliceHome, "", ""); !errors.Is(err, pairing.ErrNotFound) {
		t.Fatalf("bob approving for alice's home: %v, want ErrNotFound", err)
	}
	// Case, spaces and the dash do not matter.
	typed := strings.ToLower(strings.ReplaceAll(g.UserCode, "-", " "))
	name, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.alice, RequestID: "r1"}, typed, f.aliceHome, "", "Kitchen")
	if err != nil || name != "Kitchen satellite" {
		t.Fatalf("approve = %q, %v", name, err)
	}
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.bob}, g.UserCode, f.bobHm, "", ""); !errors.Is(err, pairing.ErrNotFound) {
		t.Fatalf("bob approving a decided code: %v, want ErrNotFound", err)
	}

	f.clock.add(20 * time.Second)
	p, d, token, err := f.svc.Poll(ctx, g.DeviceCode)
	if err != nil || p.Status != pairing.StatusApproved || !strings.HasPrefix(token, "hpd_") {
		t.Fatalf("poll after approval = %v, %q, %v", p.Status, token, err)
	}
	if d.HomeID != f.aliceHome || d.Name != "Kitchen satellite" || d.Area != "Kitchen" {
		t.Fatalf("device %+v", d)
	}
	got, err := f.homes.AuthenticateDevice(ctx, token)
	if err != nil || got.ID != d.ID {
		t.Fatalf("the token authenticates %+v, %v", got, err)
	}
	// Redeemed once: the same code gets nothing again.
	f.clock.add(20 * time.Second)
	if _, _, tok, err := f.svc.Poll(ctx, g.DeviceCode); !errors.Is(err, pairing.ErrInvalidGrant) || tok != "" {
		t.Fatalf("second redemption = %q, %v; want ErrInvalidGrant", tok, err)
	}
	if n := f.auditCount(t, audit.OutcomeOK); n != 1 {
		t.Errorf("%d approvals audited, want 1", n)
	}
	var homeID string
	if err := f.pool.QueryRow(ctx, "SELECT home_id::text FROM audit_records WHERE kind = 'pairing' AND outcome = 'ok'").Scan(&homeID); err != nil || homeID != f.aliceHome {
		t.Errorf("approval record names home %q, %v", homeID, err)
	}
}

func TestPairingDeniedAndExpired(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	denied, err := f.svc.Start(ctx, "Hall panel")
	if err != nil {
		t.Fatal(err)
	}
	expiring, err := f.svc.Start(ctx, "Porch")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Deny(ctx, pairing.Actor{UserID: f.alice}, denied.UserCode); err != nil {
		t.Fatal(err)
	}
	f.poll(t, denied.DeviceCode, pairing.StatusDenied)
	f.clock.add(10*time.Minute + time.Second)
	f.poll(t, expiring.DeviceCode, pairing.StatusExpired)
	// An expired code cannot be approved any more.
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.alice}, expiring.UserCode, f.aliceHome, "", ""); !errors.Is(err, pairing.ErrNotFound) {
		t.Fatalf("approving an expired code: %v", err)
	}
	if _, _, _, err := f.svc.Poll(ctx, "hpp_garbage"); !errors.Is(err, pairing.ErrInvalidGrant) {
		t.Fatalf("garbage device code: %v", err)
	}
}

func TestUserCodeGuessesAreThrottledAndAudited(t *testing.T) {
	f := newFixture(t)
	ctx := auth.WithClientAddr(context.Background(), netip.MustParseAddr("192.0.2.7"))
	g, err := f.svc.Start(ctx, "Bedroom")
	if err != nil {
		t.Fatal(err)
	}
	wrong := "BBBB-BBBB"
	if wrong == g.UserCode {
		wrong = "CCCC-CCCC"
	}
	for i := range 10 {
		if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.bob}, wrong, f.bobHm, "", ""); !errors.Is(err, pairing.ErrNotFound) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	// The eleventh, even the right code, is refused unchecked.
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.bob}, g.UserCode, f.bobHm, "", ""); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("after 10 wrong codes: %v, want ErrThrottled", err)
	}
	// The address is throttled too: alice behind it waits as well.
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.alice}, g.UserCode, f.aliceHome, "", ""); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("same address: %v, want ErrThrottled", err)
	}
	if n := f.auditCount(t, audit.OutcomeDenied); n != 10 {
		t.Errorf("%d wrong codes audited, want 10", n)
	}
	// Once the window passed (and the first codes expired), alice pairs.
	f.clock.add(16 * time.Minute)
	g, err = f.svc.Start(ctx, "Bedroom")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(ctx, pairing.Actor{UserID: f.alice}, g.UserCode, f.aliceHome, "Bedroom speaker", ""); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestStartIsBoundedPerAddress(t *testing.T) {
	f := newFixture(t)
	ctx := auth.WithClientAddr(context.Background(), netip.MustParseAddr("198.51.100.9"))
	for i := range 30 {
		if _, err := f.svc.Start(ctx, ""); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	if _, err := f.svc.Start(ctx, ""); !errors.Is(err, auth.ErrThrottled) {
		t.Fatalf("31st start: %v, want ErrThrottled", err)
	}
	if _, err := f.svc.Start(ctx, strings.Repeat("x", 101)); !errors.Is(err, home.ErrInvalidInput) {
		t.Fatalf("long client name: %v", err)
	}
}

func TestNormalizeUserCode(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", "BCDFGHJK": "BCDFGHJK",
		"BCDF-GHJ": "", "ABCD-EFGH": "", "BCDF-GHJK-L": "", strings.Repeat("-", 40) + "BCDFGHJK": "",
	} {
		got, ok := pairing.NormalizeUserCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeUserCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
