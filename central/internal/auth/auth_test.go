package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	svc   *auth.Service
	store *postgres.AuthStore
	keys  *auth.Keys
	clock *clock
}

func newEnv(tb testing.TB, opts auth.Options) env {
	tb.Helper()
	pool := pgtest.New(tb)
	store := postgres.NewAuthStore(pool)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	keys, err := auth.LoadKeys(context.Background(), store, clk.Now())
	if err != nil {
		tb.Fatalf("LoadKeys: %v", err)
	}
	opts.Now = clk.Now
	return env{svc: auth.NewService(store, keys, opts), store: store, keys: keys, clock: clk}
}

// register creates a confirmed account and logs it in.
func register(tb testing.TB, e env, email string) (auth.User, auth.Tokens) {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.svc.CreateUser(ctx, email, "correct horse battery"); err != nil {
		tb.Fatalf("CreateUser(%q): %v", email, err)
	}
	u, toks, err := e.svc.Login(ctx, email, "correct horse battery")
	if err != nil {
		tb.Fatalf("Login(%q): %v", email, err)
	}
	return u, toks
}

var confirmToken = regexp.MustCompile(`hpc_[A-Za-z0-9_-]{43}`)

func TestRegisterNeedsConfirmation(t *testing.T) {
	sent := &notices{}
	e := newEnv(t, auth.Options{Notifier: sent})
	ctx := context.Background()
	if err := e.svc.Register(ctx, " New@Example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(ctx, "new@example.com", "correct horse battery"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login before confirmation: %v, want ErrInvalidCredentials", err)
	}
	ns := sent.all()
	if len(ns) != 1 || ns[0].Kind != auth.NoticeConfirmRegistration || ns[0].Email != "new@example.com" {
		t.Fatalf("notices = %+v, want one confirmation to new@example.com", ns)
	}
	tok := confirmToken.FindString(ns[0].Body)
	u, toks, err := e.svc.ConfirmRegistration(ctx, tok)
	if err != nil {
		t.Fatalf("ConfirmRegistration: %v", err)
	}
	if u.Email != "new@example.com" || u.Role != auth.RoleUser || toks.Access == "" {
		t.Fatalf("confirmed %+v, %+v", u, toks)
	}
	if _, _, err := e.svc.ConfirmRegistration(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("second use of the token: %v, want ErrInvalidToken", err)
	}
	if _, _, err := e.svc.Login(ctx, "new@example.com", "correct horse battery"); err != nil {
		t.Fatalf("login after confirmation: %v", err)
	}

	// The registered address is answered alike; its owner hears of it and
	// the password stays.
	if err := e.svc.Register(ctx, "new@example.com", "another password"); err != nil {
		t.Fatalf("Register of a registered address: %v", err)
	}
	ns = sent.all()
	if len(ns) != 2 || ns[1].Kind != auth.NoticeRegistrationAttempt || ns[1].UserID != u.ID || confirmToken.MatchString(ns[1].Body) {
		t.Fatalf("notice to the owner = %+v", ns[len(ns)-1])
	}
	if _, _, err := e.svc.Login(ctx, "new@example.com", "another password"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("login with the second password: %v", err)
	}

	// Two pending registrations of one address: the first confirmed wins.
	for range 2 {
		if err := e.svc.Register(ctx, "twice@example.com", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	}
	ns = sent.all()
	first, second := confirmToken.FindString(ns[2].Body), confirmToken.FindString(ns[3].Body)
	if _, _, err := e.svc.ConfirmRegistration(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.ConfirmRegistration(ctx, first); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("the other pending token: %v, want ErrInvalidToken", err)
	}

	// Expired and malformed tokens.
	if err := e.svc.Register(ctx, "late@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	late := confirmToken.FindString(sent.all()[4].Body)
	e.clock.Advance(25 * time.Hour)
	for _, tok := range []string{late, "hpc_short", ""} {
		if _, _, err := e.svc.ConfirmRegistration(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("ConfirmRegistration(%q): %v, want ErrInvalidToken", tok, err)
		}
	}
}

func TestRegisterAndLogin(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	u, toks := register(t, e, "  Alice@Example.COM ")
	if u.Email != "alice@example.com" || u.Role != auth.RoleUser || u.ID == "" {
		t.Fatalf("registered user = %+v", u)
	}
	claims, err := e.svc.Verify(ctx, toks.Access)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if claims.UserID != u.ID || claims.Role != auth.RoleUser {
		t.Fatalf("claims = %+v, want user %s", claims, u.ID)
	}
	if !strings.HasPrefix(toks.Refresh, "hpr_") {
		t.Fatalf("refresh token %q lacks its prefix", toks.Refresh)
	}
	if _, err := e.svc.CreateUser(ctx, "alice@example.com", "another password"); !errors.Is(err, auth.ErrEmailTaken) {
		t.Fatalf("second CreateUser: err = %v, want ErrEmailTaken", err)
	}
	got, _, err := e.svc.Login(ctx, "ALICE@example.com", "correct horse battery")
	if err != nil || got.ID != u.ID {
		t.Fatalf("Login = %+v, %v", got, err)
	}
}

func TestRegisterRejectsBadInput(t *testing.T) {
	e := newEnv(t, auth.Options{})
	tests := []struct {
		name, email, password, detail string
	}{
		{"short password", "a@example.com", "short", "password must be 8 to 128 characters"},
		{"long password", "a@example.com", strings.Repeat("x", 129), "password must be 8 to 128 characters"},
		{"invalid utf-8", "a@example.com", "abcdefg\xff", "UTF-8"},
		{"no at sign", "example.com", "long enough", "email"},
		{"display name", "Alice <a@example.com>", "long enough", "email"},
		{"empty email", "  ", "long enough", "email"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.Register(context.Background(), tc.email, tc.password)
			if !errors.Is(err, auth.ErrInvalidInput) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("err = %v, want ErrInvalidInput mentioning %q", err, tc.detail)
			}
		})
	}
	// 128 multi-byte characters are allowed: the bound counts characters.
	if _, err := e.svc.CreateUser(context.Background(), "b@example.com", strings.Repeat("é", 128)); err != nil {
		t.Fatalf("128 two-byte characters: %v", err)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t, auth.Options{})
	register(t, e, "bob@example.com")
	ctx := context.Background()

	tests := []struct{ name, email, password string }{
		{"wrong password", "bob@example.com", "wrong password!"},
		{"unknown user", "nobody@example.com", "correct horse battery"},
		{"malformed email", "not an email", "correct horse battery"},
	}
	durations := map[string]time.Duration{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The fastest of a few tries, to keep scheduler noise out.
			for range 3 {
				start := time.Now()
				_, _, err := e.svc.Login(ctx, tc.email, tc.password)
				d := time.Since(start)
				if !errors.Is(err, auth.ErrInvalidCredentials) || err.Error() != auth.ErrInvalidCredentials.Error() {
					t.Fatalf("err = %v, want exactly ErrInvalidCredentials", err)
				}
				if old, ok := durations[tc.name]; !ok || d < old {
					durations[tc.name] = d
				}
			}
		})
	}
	// Both paths run one argon2id hash: an unknown email must not answer in a
	// fraction of the time a wrong password takes.
	wrong, unknown := durations["wrong password"], durations["unknown user"]
	if unknown < wrong/4 {
		t.Fatalf("unknown user took %v, wrong password %v: the unknown path skips hashing", unknown, wrong)
	}
}

func TestDisabledUserCannotLoginOrRefresh(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	u, toks := register(t, e, "carol@example.com")
	if err := e.store.SetUserDisabled(ctx, u.ID, true, e.clock.Now()); err != nil {
		t.Fatalf("SetUserDisabled: %v", err)
	}
	if _, _, err := e.svc.Login(ctx, "carol@example.com", "correct horse battery"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("Login of disabled user: err = %v", err)
	}
	if _, err := e.svc.Refresh(ctx, toks.Refresh); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Refresh of disabled user: err = %v", err)
	}
}

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	u, first := register(t, e, "dave@example.com")

	second, err := e.svc.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if second.Refresh == first.Refresh {
		t.Fatal("Refresh returned the same refresh token")
	}
	if c, err := e.svc.Verify(ctx, second.Access); err != nil || c.UserID != u.ID {
		t.Fatalf("Verify(new access) = %+v, %v", c, err)
	}
	third, err := e.svc.Refresh(ctx, second.Refresh)
	if err != nil {
		t.Fatalf("Refresh of the rotated token: %v", err)
	}
	if err := e.svc.Logout(ctx, third.Refresh); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, third.Refresh); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Refresh after Logout: err = %v", err)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, auth.Options{ReuseGrace: -1})
	ctx := context.Background()
	erin, first := register(t, e, "erin@example.com")
	_, other := func() (auth.User, auth.Tokens) {
		u, toks, err := e.svc.Login(ctx, "erin@example.com", "correct horse battery")
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		return u, toks
	}()

	second, err := e.svc.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	_, err = e.svc.Refresh(ctx, first.Refresh)
	var reuse *auth.ReuseError
	if !errors.Is(err, auth.ErrInvalidToken) || !errors.As(err, &reuse) || reuse.UserID != erin.ID || reuse.FamilyID == "" {
		t.Fatalf("reuse: err = %v, want a ReuseError for %s that is an ErrInvalidToken", err, erin.ID)
	}
	if _, err := e.svc.Refresh(ctx, second.Refresh); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("successor after reuse: err = %v, want ErrInvalidToken (family revoked)", err)
	}
	// Another session of the same user is a different family and survives.
	if _, err := e.svc.Refresh(ctx, other.Refresh); err != nil {
		t.Fatalf("other session after reuse: %v", err)
	}
}

func TestRefreshExpiry(t *testing.T) {
	e := newEnv(t, auth.Options{RefreshTTL: time.Hour, SessionTTL: 90 * time.Minute})
	ctx := context.Background()
	_, toks := register(t, e, "fay@example.com")

	e.clock.Advance(50 * time.Minute)
	next, err := e.svc.Refresh(ctx, toks.Refresh)
	if err != nil {
		t.Fatalf("Refresh within TTL: %v", err)
	}
	if want := toks.RefreshExpires.Add(30 * time.Minute); !next.RefreshExpires.Equal(want) {
		t.Fatalf("rotated token expires %v, want the session end %v", next.RefreshExpires, want)
	}
	e.clock.Advance(41 * time.Minute)
	if _, err := e.svc.Refresh(ctx, next.Refresh); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Refresh past the session's absolute lifetime: err = %v", err)
	}
}

func TestConcurrentRefreshGivesOnePair(t *testing.T) {
	tests := []struct {
		name           string
		grace          time.Duration
		winnerSurvives bool
	}{
		{"strict", -1, false},
		{"with the default grace", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, auth.Options{ReuseGrace: tc.grace})
			ctx := context.Background()
			_, toks := register(t, e, "gus@example.com")

			const n = 8
			var wg sync.WaitGroup
			results := make([]auth.Tokens, n)
			errs := make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = e.svc.Refresh(ctx, toks.Refresh)
				})
			}
			close(start)
			wg.Wait()

			var winner auth.Tokens
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
					winner = results[i]
				case !errors.Is(err, auth.ErrInvalidToken):
					t.Fatalf("refresh %d: unexpected error %v", i, err)
				}
			}
			if wins != 1 {
				t.Fatalf("%d refreshes succeeded, want exactly 1", wins)
			}
			_, err := e.svc.Refresh(ctx, winner.Refresh)
			if tc.winnerSurvives && err != nil {
				t.Fatalf("winner's token after a raced refresh within grace: %v", err)
			}
			if !tc.winnerSurvives && !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("winner's token after reuse without grace: err = %v, want family revoked", err)
			}
		})
	}
}

func TestMalformedRefreshTokens(t *testing.T) {
	e := newEnv(t, auth.Options{})
	for _, tok := range []string{"", "hpr_", "hpr_" + strings.Repeat("A", 43), "xyz_" + strings.Repeat("A", 43), strings.Repeat("A", 10000)} {
		if _, err := e.svc.Refresh(context.Background(), tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Refresh(%.20q): err = %v, want ErrInvalidToken", tok, err)
		}
	}
}

func TestKeysSharedAcrossStarts(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	_, toks := register(t, e, "hal@example.com")

	// A second replica loading keys concurrently must end with the same key.
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		wg.Go(func() {
			k, err := auth.LoadKeys(ctx, e.store, time.Now())
			if err != nil {
				t.Errorf("LoadKeys: %v", err)
				return
			}
			ids[i] = k.SignerID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != e.keys.SignerID() {
			t.Fatalf("replica signs with %q, first start with %q", id, e.keys.SignerID())
		}
	}
	keys, err := auth.LoadKeys(ctx, e.store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	replica := auth.NewService(e.store, keys, auth.Options{Now: e.clock.Now})
	if _, err := replica.Verify(ctx, toks.Access); err != nil {
		t.Fatalf("replica cannot verify a token of the first start: %v", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	key, err := auth.NewSigningKey(clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(activeSessions{}, keys, auth.Options{Now: clk.Now, Issuer: "hp", Audience: "hp-api"})
	now := clk.Now()
	valid := jwt.MapClaims{
		"sub": "00000000-0000-4000-8000-000000000001", "role": "user", "iss": "hp", "aud": "hp-api",
		"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range valid {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	sign := func(claims jwt.MapClaims, kid string, priv ed25519.PrivateKey) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := jwt.NewWithClaims(jwt.SigningMethodHS256, valid).SignedString([]byte(key.Private.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}

	if _, err := svc.Verify(context.Background(), sign(valid, key.ID, key.Private)); err != nil {
		t.Fatalf("valid token rejected: %v", err)
	}
	if _, err := svc.Verify(context.Background(), sign(with("exp", now.Add(15*time.Minute).Unix()), key.ID, key.Private)); err != nil {
		t.Fatalf("a token living the access TTL rejected: %v", err)
	}
	tests := []struct{ name, token string }{
		{"alg none", none},
		{"alg HS256 keyed with the public key", hs},
		{"wrong audience", sign(with("aud", "other"), key.ID, key.Private)},
		{"wrong issuer", sign(with("iss", "evil"), key.ID, key.Private)},
		{"expired", sign(with("exp", now.Add(-time.Second).Unix()), key.ID, key.Private)},
		{"no exp", sign(with("exp", nil), key.ID, key.Private)},
		{"issued in the future", sign(with("iat", now.Add(time.Hour).Unix()), key.ID, key.Private)},
		{"no iat", sign(with("iat", nil), key.ID, key.Private)},
		{"a life of ten years", sign(with("exp", now.AddDate(10, 0, 0).Unix()), key.ID, key.Private)},
		{"a life a second past the access TTL", sign(with("exp", now.Add(15*time.Minute+time.Second).Unix()), key.ID, key.Private)},
		{"no subject", sign(with("sub", nil), key.ID, key.Private)},
		{"unknown role", sign(with("role", "root"), key.ID, key.Private)},
		{"unknown kid", sign(valid, "nope", key.Private)},
		{"no kid", sign(valid, "", key.Private)},
		{"signed by another key", sign(valid, key.ID, otherPriv)},
		{"empty", ""},
		{"garbage", "a.b.c"},
		{"huge", strings.Repeat("a", 100000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.Verify(context.Background(), tc.token); !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// activeSessions is a Store that knows only that every user's sessions are
// current (version 0, enabled); any other call panics.
type activeSessions struct{ auth.Store }

func (activeSessions) SessionState(context.Context, string) (auth.SessionState, error) {
	return auth.SessionState{}, nil
}

func TestThrottleCountsBeforeTheCheck(t *testing.T) {
	th := auth.NewThrottle(3, time.Minute, 100)
	now := time.Unix(1700000000, 0)
	if !th.Begin("k", now) {
		t.Fatal("first attempt refused")
	}
	if th.Begin("k", now) {
		t.Fatal("a second attempt was admitted while the first is checked")
	}
	th.End("k", false)
	// Two more failures reach the limit of three.
	for range 2 {
		if !th.Begin("k", now) {
			t.Fatal("attempt under the limit refused")
		}
		th.End("k", false)
	}
	if th.Begin("k", now) {
		t.Fatal("a fourth attempt was admitted")
	}
	// A refunded attempt (it succeeded) does not count.
	if !th.Begin("r", now) {
		t.Fatal("refused")
	}
	th.End("r", true)
	for range 3 {
		if !th.Begin("r", now) {
			t.Fatal("a refunded attempt still counts")
		}
		th.End("r", false)
	}
	if !th.Begin("k", now.Add(time.Minute)) {
		t.Fatal("the window ended but the key is still refused")
	}
}
