package auth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// notices is a Notifier that keeps what it is given.
type notices struct {
	mu   sync.Mutex
	sent []auth.Notice
}

func (n *notices) Notify(_ context.Context, x auth.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, x)
	return nil
}

func (n *notices) all() []auth.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]auth.Notice(nil), n.sent...)
}

// resetToken is the token in the last notice sent.
func (n *notices) resetToken(tb testing.TB) string {
	tb.Helper()
	all := n.all()
	if len(all) == 0 {
		tb.Fatal("no notice sent")
	}
	body := all[len(all)-1].Body
	i := strings.Index(body, "hpw_")
	if i < 0 {
		tb.Fatalf("notice %q carries no reset token", body)
	}
	return body[i : i+4+43]
}

func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("err = %v, want %v", err, want)
	}
}

func TestChangePasswordEndsEverySession(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	u, first := register(t, e, "ivy@example.com")
	_, second, err := e.svc.Login(ctx, "ivy@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}

	wantErr(t, e.svc.ChangePassword(ctx, u.ID, "wrong password", "a new password"), auth.ErrInvalidInput)
	wantErr(t, e.svc.ChangePassword(ctx, u.ID, "correct horse battery", "short"), auth.ErrInvalidInput)
	if _, err := e.svc.Verify(ctx, first.Access); err != nil {
		t.Fatalf("a refused change ended the session: %v", err)
	}
	if err := e.svc.ChangePassword(ctx, u.ID, "correct horse battery", "a new password"); err != nil {
		t.Fatal(err)
	}
	for name, toks := range map[string]auth.Tokens{"this session": first, "other session": second} {
		_, err := e.svc.Verify(ctx, toks.Access)
		wantErr(t, err, auth.ErrInvalidToken)
		_, err = e.svc.Refresh(ctx, toks.Refresh)
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("%s: refresh after password change: %v", name, err)
		}
	}
	_, _, err = e.svc.Login(ctx, "ivy@example.com", "correct horse battery")
	wantErr(t, err, auth.ErrInvalidCredentials)
	_, fresh, err := e.svc.Login(ctx, "ivy@example.com", "a new password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, fresh.Access); err != nil {
		t.Fatalf("new session refused: %v", err)
	}
}

// A replica that did not make the change notices it within SessionCheckTTL.
func TestOtherReplicaEndsSessionsWithinTTL(t *testing.T) {
	e := newEnv(t, auth.Options{SessionCheckTTL: time.Minute})
	ctx := context.Background()
	u, toks := register(t, e, "jo@example.com")
	replica := auth.NewService(e.store, e.keys, auth.Options{Now: e.clock.Now, SessionCheckTTL: time.Minute})
	if _, err := replica.Verify(ctx, toks.Access); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetUserDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, toks.Access); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("the replica that disabled the user still accepts its token: %v", err)
	}
	e.clock.Advance(time.Minute)
	_, err := replica.Verify(ctx, toks.Access)
	wantErr(t, err, auth.ErrInvalidToken)
}

func TestPasswordReset(t *testing.T) {
	n := &notices{}
	e := newEnv(t, auth.Options{Notifier: n, ResetTTL: time.Hour})
	ctx := context.Background()
	_, old := register(t, e, "kim@example.com")

	// Same answer for an unknown, a malformed and a known address.
	for _, email := range []string{"nobody@example.com", "not an email", "kim@example.com"} {
		if err := e.svc.RequestPasswordReset(ctx, email); err != nil {
			t.Fatalf("RequestPasswordReset(%q): %v", email, err)
		}
	}
	if got := n.all(); len(got) != 1 || got[0].Email != "kim@example.com" || got[0].Kind != auth.NoticePasswordReset {
		t.Fatalf("notices %+v, want one reset notice to kim", got)
	}
	tok := n.resetToken(t)

	wantErr(t, e.svc.ResetPassword(ctx, "hpw_"+strings.Repeat("A", 43), "a brand new one"), auth.ErrInvalidToken)
	wantErr(t, e.svc.ResetPassword(ctx, tok, "short"), auth.ErrInvalidInput)
	if err := e.svc.ResetPassword(ctx, tok, "a brand new one"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.svc.ResetPassword(ctx, tok, "another new one"), auth.ErrInvalidToken)
	_, err := e.svc.Verify(ctx, old.Access)
	wantErr(t, err, auth.ErrInvalidToken)
	_, err = e.svc.Refresh(ctx, old.Refresh)
	wantErr(t, err, auth.ErrInvalidToken)
	if _, _, err := e.svc.Login(ctx, "kim@example.com", "a brand new one"); err != nil {
		t.Fatalf("login with the reset password: %v", err)
	}

	// A token past its lifetime is refused.
	if err := e.svc.RequestPasswordReset(ctx, "kim@example.com"); err != nil {
		t.Fatal(err)
	}
	late := n.resetToken(t)
	e.clock.Advance(time.Hour + time.Second)
	wantErr(t, e.svc.ResetPassword(ctx, late, "too late for this"), auth.ErrInvalidToken)
}

func TestPasswordResetRequestsAreBounded(t *testing.T) {
	n := &notices{}
	e := newEnv(t, auth.Options{Notifier: n})
	ctx := auth.WithClientAddr(context.Background(), netip.MustParseAddr("192.0.2.7"))
	register(t, e, "lee@example.com")
	for range 10 {
		if err := e.svc.RequestPasswordReset(ctx, "lee@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(n.all()); got != 3 {
		t.Fatalf("%d notices for 10 requests, want 3 per window", got)
	}
}

func TestOutboxIsTheDefaultNotifier(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewAuthStore(pool)
	outbox := postgres.NewOutbox(pool)
	ctx := context.Background()
	keys, err := auth.LoadKeys(ctx, store, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(store, keys, auth.Options{Notifier: outbox})
	if _, err := svc.CreateUser(ctx, "mo@example.com", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	if err := svc.RequestPasswordReset(ctx, "mo@example.com"); err != nil {
		t.Fatal(err)
	}
	got, err := outbox.ListNotices(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Email != "mo@example.com" || !strings.Contains(got[0].Body, "hpw_") || got[0].UserID == "" {
		t.Fatalf("outbox holds %+v", got)
	}
}

func TestLoginThrottling(t *testing.T) {
	e := newEnv(t, auth.Options{AccountFailures: 3, AddrFailures: 5, ThrottleWindow: time.Minute})
	register(t, e, "ned@example.com")
	register(t, e, "ola@example.com")
	here := auth.WithClientAddr(context.Background(), netip.MustParseAddr("198.51.100.1"))
	there := auth.WithClientAddr(context.Background(), netip.MustParseAddr("198.51.100.2"))

	// Per account, known or not: the right password is refused too once
	// the account is throttled, from any address.
	for _, email := range []string{"ned@example.com", "nobody@example.com"} {
		for i := range 3 {
			elsewhere := auth.WithClientAddr(context.Background(), netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}))
			_, _, err := e.svc.Login(elsewhere, email, "wrong password!")
			wantErr(t, err, auth.ErrInvalidCredentials)
		}
		_, _, err := e.svc.Login(here, email, "correct horse battery")
		wantErr(t, err, auth.ErrThrottled)
	}
	// Per address: one client guessing across accounts.
	for i := range 5 {
		_, _, err := e.svc.Login(here, fmt.Sprintf("guess%d@example.com", i), "wrong password!")
		wantErr(t, err, auth.ErrInvalidCredentials)
	}
	_, _, err := e.svc.Login(here, "ola@example.com", "correct horse battery")
	wantErr(t, err, auth.ErrThrottled)
	if _, _, err := e.svc.Login(there, "ola@example.com", "correct horse battery"); err != nil {
		t.Fatalf("another address is throttled too: %v", err)
	}
	// Windows end.
	e.clock.Advance(time.Minute)
	if _, _, err := e.svc.Login(here, "ned@example.com", "correct horse battery"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestImportedHashIsReplacedAtLogin(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	const passlib = "$pbkdf2-sha256$29000$N2YMIWQsBWBMae09x1jrPQ$1t8iyB2A.WF/Z5JZv.lfCIhXXN33N23OSgQYThBYRfk"
	if _, err := e.store.CreateUser(ctx, auth.User{ID: "00000000-0000-4000-8000-0000000000aa", Email: "old@example.com",
		Role: auth.RoleUser, CreatedAt: e.clock.Now()}, passlib); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.svc.Login(ctx, "old@example.com", "joshua")
	wantErr(t, err, auth.ErrInvalidCredentials)
	if _, _, err := e.svc.Login(ctx, "old@example.com", "toomanysecrets"); err != nil {
		t.Fatalf("login with an imported hash: %v", err)
	}
	_, stored, err := e.store.UserByEmail(ctx, "old@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("stored hash after login is %q, want argon2id", stored)
	}
	if _, _, err := e.svc.Login(ctx, "old@example.com", "toomanysecrets"); err != nil {
		t.Fatalf("login after the rehash: %v", err)
	}
}

func TestOutdatedArgonParametersAreRehashed(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte("old parameters"), salt, 1, 8*1024, 1, 32)
	b64 := base64.RawStdEncoding
	weak := fmt.Sprintf("$argon2id$v=19$m=8192,t=1,p=1$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
	if _, err := e.store.CreateUser(ctx, auth.User{ID: "00000000-0000-4000-8000-0000000000bb", Email: "weak@example.com",
		Role: auth.RoleUser, CreatedAt: e.clock.Now()}, weak); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Login(ctx, "weak@example.com", "old parameters"); err != nil {
		t.Fatal(err)
	}
	_, stored, _ := e.store.UserByEmail(ctx, "weak@example.com")
	if stored == weak || !strings.HasPrefix(stored, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash not upgraded: %q", stored)
	}
}

func TestRefreshReuseAfterGraceRevokesFamily(t *testing.T) {
	e := newEnv(t, auth.Options{ReuseGrace: 10 * time.Second})
	ctx := context.Background()
	_, first := register(t, e, "pam@example.com")
	second, err := e.svc.Refresh(ctx, first.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	// Within the grace: refused, the family lives.
	_, err = e.svc.Refresh(ctx, first.Refresh)
	wantErr(t, err, auth.ErrInvalidToken)
	third, err := e.svc.Refresh(ctx, second.Refresh)
	if err != nil {
		t.Fatalf("winner's token after a reuse within grace: %v", err)
	}
	// Later: a replayed token revokes the family.
	e.clock.Advance(11 * time.Second)
	_, err = e.svc.Refresh(ctx, second.Refresh)
	wantErr(t, err, auth.ErrInvalidToken)
	_, err = e.svc.Refresh(ctx, third.Refresh)
	wantErr(t, err, auth.ErrInvalidToken)
}

func TestKeyRotationKeepsSessions(t *testing.T) {
	e := newEnv(t, auth.Options{})
	ctx := context.Background()
	_, before := register(t, e, "quinn@example.com")
	oldKid := e.keys.SignerID()

	key, pruned, err := auth.RotateKeys(ctx, e.store, e.clock.Now(), 5*time.Minute, 24*time.Hour)
	if err != nil || pruned != 0 {
		t.Fatalf("RotateKeys: %v (pruned %d)", err, pruned)
	}
	if err := e.svc.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, before.Access); err != nil {
		t.Fatalf("token of the old key after rotation: %v", err)
	}
	// Not active yet: tokens keep the old kid.
	_, toks, err := e.svc.Login(ctx, "quinn@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if kid := kidOf(t, toks.Access); kid != oldKid {
		t.Fatalf("signed with %q before activation, want %q", kid, oldKid)
	}
	e.clock.Advance(5 * time.Minute)
	_, toks, err = e.svc.Login(ctx, "quinn@example.com", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if kid := kidOf(t, toks.Access); kid != key.ID {
		t.Fatalf("signed with %q after activation, want the new %q", kid, key.ID)
	}
	if _, err := e.svc.Verify(ctx, before.Access); err != nil {
		t.Fatalf("old token after activation: %v", err)
	}
	// A day after the new key took over, the old one goes.
	_, pruned, err = auth.RotateKeys(ctx, e.store, e.clock.Now().Add(25*time.Hour), time.Hour, 24*time.Hour)
	if err != nil || pruned != 1 {
		t.Fatalf("second rotation: %v, pruned %d, want 1", err, pruned)
	}
	if err := e.svc.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Verify(ctx, toks.Access); err != nil {
		t.Fatalf("token of the kept key: %v", err)
	}
	_, err = e.svc.Verify(ctx, before.Access)
	wantErr(t, err, auth.ErrInvalidToken)
}

func kidOf(tb testing.TB, token string) string {
	tb.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		tb.Fatal(err)
	}
	i := strings.Index(string(raw), `"kid":"`)
	if i < 0 {
		tb.Fatalf("no kid in %s", raw)
	}
	rest := string(raw)[i+7:]
	return rest[:strings.IndexByte(rest, '"')]
}
