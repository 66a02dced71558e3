package rpc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	hv1c "github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/timer"
)

// abuse is an attack that once succeeded against a running central (the
// second round of hardening), with what must hold now.
type abuse struct {
	name string
	run  func(t *testing.T)
}

// from makes req come from addr, as a trusted proxy would say.
func from[T any](addr string, req *connect.Request[T]) *connect.Request[T] {
	req.Header().Set("X-Forwarded-For", addr)
	return req
}

const password = "correct horse battery"

// admin registers email as an admin and logs in.
func (e *realEnv) admin(t *testing.T, email string) *homeplanev1.Tokens {
	t.Helper()
	e.user(t, email)
	if err := e.store.SetRoleByEmail(context.Background(), email, auth.RoleAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	r, err := e.c.auth.Login(context.Background(), as("", &homeplanev1.LoginRequest{Email: email, Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	return r.Msg.GetTokens()
}

// browser is a dashboard client with its own cookies, coming from addr.
type browser struct {
	e    *realEnv
	c    *http.Client
	addr string
}

func (e *realEnv) browser(t *testing.T, addr string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Transport: e.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, c: c, addr: addr}
}

func (b *browser) do(t *testing.T, method, path string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Forwarded-For", b.addr)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// login submits the dashboard's login form and returns the status.
func (b *browser) login(t *testing.T, email, pw string) int {
	t.Helper()
	_, page := b.do(t, http.MethodGet, "/admin/login", nil)
	code, _ := b.do(t, http.MethodPost, "/admin/login", url.Values{
		"email": {email}, "password": {pw}, "csrf": {between(page, `name="csrf" value="`, `"`)}})
	return code
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}

// auditCount counts the committed audit records f selects.
func (e *realEnv) auditCount(t *testing.T, f audit.Filter) int {
	t.Helper()
	f.Limit = 1000
	recs, err := e.audit.Records(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

// abuses are the rows of the second round of hardening, each named by what
// was tried.
func abuses(e *realEnv) []abuse {
	ctx := context.Background()
	return []abuse{
		{"1 300 concurrent logins for one account from one address", func(t *testing.T) {
			e.user(t, "target@example.com")
			var checked, refused atomic.Int32
			var wg sync.WaitGroup
			for range 300 {
				wg.Go(func() {
					_, err := e.c.auth.Login(ctx, from("198.51.100.1", as("", &homeplanev1.LoginRequest{
						Email: "target@example.com", Password: "not the password"})))
					switch connect.CodeOf(err) {
					case connect.CodeUnauthenticated:
						checked.Add(1)
					case connect.CodeResourceExhausted:
						refused.Add(1)
					default:
						t.Errorf("login: %v", err)
					}
				})
			}
			wg.Wait()
			// The account allows 10 failures per window.
			if n := checked.Load(); n > 10 || n == 0 {
				t.Fatalf("%d wrong passwords were checked (%d refused), want 1 to 10", n, refused.Load())
			}
		}},
		{"4 60 failed dashboard logins with different emails from one address", func(t *testing.T) {
			b := e.browser(t, "198.51.100.4")
			checked := 0
			for i := range 60 {
				switch code := b.login(t, "guess"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com", "not the password"); code {
				case http.StatusUnauthorized:
					checked++
				case http.StatusTooManyRequests:
				default:
					t.Fatalf("login %d: status %d", i, code)
				}
			}
			// The address allows 50 failures per window, shared with the API.
			if checked > 50 {
				t.Fatalf("%d dashboard logins were checked, want at most 50", checked)
			}
			_, err := e.c.auth.Login(ctx, from("198.51.100.4", as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: password})))
			wantCode(t, err, connect.CodeResourceExhausted)
		}},
		registerAlike(e),
		{"7 a slow unauthenticated body to ControlInstance", func(t *testing.T) {
			hangsUp(t, e, func(srv *http.Server) { srv.ReadTimeout = time.Second },
				"POST "+hv1c.HomeServiceControlInstanceProcedure+" HTTP/1.1\r\nHost: central\r\n"+
					"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"home_id\":")
		}},
		{"7 more connections than the cap", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := NewServer(e.handler, slog.New(slog.DiscardHandler))
			go func() { _ = srv.Serve(LimitListener(ln, 2)) }()
			t.Cleanup(func() { _ = srv.Close() })
			var idle []net.Conn
			for range 2 {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				idle = append(idle, c)
			}
			got := make(chan error, 1)
			go func() {
				c := &http.Client{Timeout: 20 * time.Second}
				resp, err := c.Get("http://" + ln.Addr().String() + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				got <- err
			}()
			select {
			case err := <-got:
				t.Fatalf("a third connection was served while two were open (err %v)", err)
			case <-time.After(500 * time.Millisecond):
			}
			idle[0].Close()
			if err := <-got; err != nil {
				t.Fatalf("after a connection closed: %v", err)
			}
		}},
		{"8 an admin demoted while logged in", func(t *testing.T) {
			root := e.admin(t, "root@example.com")
			mia := e.admin(t, "mia@example.com")
			listUsers := func(tok string) error {
				_, err := e.c.admin.ListUsers(ctx, as(tok, &homeplanev1.ListUsersRequest{}))
				return err
			}
			if err := listUsers(mia.GetAccessToken()); err != nil {
				t.Fatal(err)
			}
			claims, err := e.accounts.Verify(ctx, mia.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.c.admin.SetUserRole(ctx, as(root.GetAccessToken(), &homeplanev1.SetUserRoleRequest{
				UserId: claims.UserID, Role: auth.RoleUser})); err != nil {
				t.Fatal(err)
			}
			wantCode(t, listUsers(mia.GetAccessToken()), connect.CodeUnauthenticated)
		}},
		{"9 a dashboard cookie after logout", func(t *testing.T) {
			e.admin(t, "ops@example.com")
			b := e.browser(t, "198.51.100.9")
			if code := b.login(t, "ops@example.com", password); code != http.StatusSeeOther {
				t.Fatalf("dashboard login: status %d", code)
			}
			u, _ := url.Parse(e.url + "/admin/")
			cookies := b.c.Jar.Cookies(u)
			code, page := b.do(t, http.MethodGet, "/admin/", nil)
			if code != http.StatusOK {
				t.Fatalf("fleet page: status %d", code)
			}
			if code, _ := b.do(t, http.MethodPost, "/admin/logout", url.Values{"csrf": {between(page, `name="csrf" value="`, `"`)}}); code != http.StatusSeeOther {
				t.Fatalf("logout: status %d", code)
			}
			// A copy of the cookies from before the logout.
			stolen := e.browser(t, "203.0.113.9")
			stolen.c.Jar.SetCookies(u, cookies)
			if code, _ := stolen.do(t, http.MethodGet, "/admin/", nil); code != http.StatusSeeOther {
				t.Fatalf("the old cookies still open the dashboard: status %d, want a redirect to the login", code)
			}
		}},
		{"10 WatchTimers stream of a revoked device", func(t *testing.T) {
			owner := e.user(t, "tess@example.com").GetAccessToken()
			homeID := e.createHome(t, owner)
			r, err := e.c.home.RegisterDevice(ctx, as(owner, &homeplanev1.RegisterDeviceRequest{HomeId: homeID, Name: "Hall"}))
			if err != nil {
				t.Fatal(err)
			}
			dev := r.Msg.GetDevice()
			watchEnds(t, e, r.Msg.GetToken(), "", timer.Owner{HomeID: homeID, DeviceID: dev.GetId()}, func() {
				if _, err := e.c.home.RevokeDevice(ctx, as(owner, &homeplanev1.RevokeDeviceRequest{HomeId: homeID, DeviceId: dev.GetId()})); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"10 WatchTimers stream of a user who changed their password", func(t *testing.T) {
			toks := e.user(t, "uma@example.com")
			homeID := e.createHome(t, toks.GetAccessToken())
			claims, err := e.accounts.Verify(ctx, toks.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			watchEnds(t, e, toks.GetAccessToken(), homeID, timer.Owner{HomeID: homeID, DeviceID: intent.UserTimerOwner(claims.UserID)}, func() {
				if _, err := e.c.auth.ChangePassword(ctx, as(toks.GetAccessToken(), &homeplanev1.ChangePasswordRequest{
					CurrentPassword: password, NewPassword: "another fine password"})); err != nil {
					t.Fatal(err)
				}
			})
		}},
		{"11 PostgreSQL down", func(t *testing.T) {
			// Nothing listens on the first address; the second accepts
			// connections and never answers.
			dead, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			refused := dead.Addr().String()
			dead.Close()
			silent, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { silent.Close() })
			go func() {
				for {
					c, err := silent.Accept()
					if err != nil {
						return
					}
					t.Cleanup(func() { c.Close() })
				}
			}()
			for i, addr := range []string{refused, silent.Addr().String()} {
				pool, err := pgxpool.New(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable&connect_timeout=2")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(pool.Close)
				accounts := auth.NewService(postgres.NewAuthStore(pool), e.keys, auth.Options{})
				srv := httptest.NewServer(NewHandler(Deps{Accounts: accounts, Homes: e.homes, Entities: rpctest.Entities{},
					Intents: &rpctest.Intents{}, Auditor: &rpctest.Auditor{}}, Options{Logger: slog.New(slog.DiscardHandler)}))
				t.Cleanup(srv.Close)
				c := clientsFor(srv)
				start := time.Now()
				_, err = c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "alice@example.com", Password: password}))
				wantCode(t, err, connect.CodeUnavailable)
				_, err = c.home.ListHomes(ctx, as(e.user(t, fmt.Sprintf("vic%d@example.com", i)).GetAccessToken(), &homeplanev1.ListHomesRequest{}))
				wantCode(t, err, connect.CodeUnavailable)
				if d := time.Since(start); d > 10*time.Second {
					t.Fatalf("answered after %v, want within the connect timeout", d)
				}
			}
		}},
		{"12 one device token sends 400 Process calls", func(t *testing.T) {
			owner := e.user(t, "walt@example.com").GetAccessToken()
			homeID := e.createHome(t, owner)
			r, err := e.c.home.RegisterDevice(ctx, as(owner, &homeplanev1.RegisterDeviceRequest{HomeId: homeID, Name: "Den"}))
			if err != nil {
				t.Fatal(err)
			}
			var executed, refused atomic.Int32
			start := time.Now()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for range 50 {
						_, err := e.c.intent.Process(ctx, as(r.Msg.GetToken(), processMsg("turn on the lights", "")))
						switch {
						case err == nil:
							executed.Add(1)
						case connect.CodeOf(err) == connect.CodeResourceExhausted:
							refused.Add(1)
						default:
							t.Errorf("process: %v", err)
						}
					}
				})
			}
			wg.Wait()
			// A device bursts 30 and sustains 5 a second.
			if limit := 30 + int32(5*time.Since(start).Seconds()) + 1; executed.Load() > limit || limit < 400 && refused.Load() == 0 {
				t.Fatalf("%d calls executed, %d refused; want at most %d executed", executed.Load(), refused.Load(), limit)
			}
			if n := e.auditCount(t, audit.Filter{Kind: audit.KindRateLimited, DeviceID: r.Msg.GetDevice().GetId()}); n != 1 {
				t.Fatalf("%d rate-limit records for the device, want 1 (one a minute)", n)
			}
		}},
		{"12 one user token sends 300 calls", func(t *testing.T) {
			toks := e.user(t, "xena@example.com")
			var served, refused atomic.Int32
			start := time.Now()
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					for range 50 {
						_, err := e.c.home.ListHomes(ctx, as(toks.GetAccessToken(), &homeplanev1.ListHomesRequest{}))
						switch {
						case err == nil:
							served.Add(1)
						case connect.CodeOf(err) == connect.CodeResourceExhausted:
							refused.Add(1)
						default:
							t.Errorf("ListHomes: %v", err)
						}
					}
				})
			}
			wg.Wait()
			// A user bursts 100 and sustains 20 a second.
			elapsed := time.Since(start).Seconds()
			if limit := 100 + int32(20*elapsed) + 1; served.Load() > limit || limit < 300 && refused.Load() == 0 {
				t.Fatalf("%d calls served, %d refused in %.1fs; want at most %d served", served.Load(), refused.Load(), elapsed, limit)
			}
		}},
		{"16 an access token without iat", func(t *testing.T) {
			key, err := auth.NewSigningKey(time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.AddSigningKey(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := e.accounts.ReloadKeys(ctx); err != nil {
				t.Fatal(err)
			}
			toks := e.user(t, "yuri@example.com")
			claims, err := e.accounts.Verify(ctx, toks.GetAccessToken())
			if err != nil {
				t.Fatal(err)
			}
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": claims.UserID, "role": "user",
				"iss": "homeplane", "aud": "homeplane", "exp": time.Now().Add(time.Minute).Unix()})
			tok.Header["kid"] = key.ID
			signed, err := tok.SignedString(key.Private)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.c.home.ListHomes(ctx, as(signed, &homeplanev1.ListHomesRequest{}))
			wantCode(t, err, connect.CodeUnauthenticated)
		}},
	}
}

// watchEnds opens a WatchTimers stream with token, waits until it runs (a
// timer of owner is announced), ends the credential with end, and fails
// unless the stream closes within seconds.
func watchEnds(t *testing.T, e *realEnv, token, homeID string, owner timer.Owner, end func()) {
	t.Helper()
	if _, err := e.timers.Start(timer.Timer{Owner: owner, Name: "pasta", Start: 10 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := e.c.intent.WatchTimers(ctx, as(token, &homeplanev1.WatchTimersRequest{HomeId: homeID}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	if !stream.Receive() {
		t.Fatalf("stream ended before its first event: %v", stream.Err())
	}
	ended := make(chan error, 1)
	go func() {
		for stream.Receive() {
		}
		ended <- stream.Err()
	}()
	end()
	select {
	case err := <-ended:
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("stream ended with %v, want unauthenticated", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open 5s after its credential ended")
	}
}

// registerAlike is row 6: Register answers a registered address as it
// answers a new one, tells the owner instead, makes the new account wait
// for the token mailed to its address, and refuses one address registering
// account after account after ten.
func registerAlike(e *realEnv) abuse {
	return abuse{"6 Register with an existing email", func(t *testing.T) {
		ctx := context.Background()
		e.user(t, "taken6@example.com")
		register := func(addr, email, pw string) (*homeplanev1.RegisterResponse, error) {
			r, err := e.c.auth.Register(ctx, from(addr, as("", &homeplanev1.RegisterRequest{Email: email, Password: pw})))
			if err != nil {
				return nil, err
			}
			return r.Msg, nil
		}
		taken, err := register("198.51.100.60", "taken6@example.com", "the attacker's password")
		if err != nil {
			t.Fatalf("register of a registered address answered %v", err)
		}
		fresh, err := register("198.51.100.60", "fresh6@example.com", password)
		if err != nil {
			t.Fatalf("register of a new address answered %v", err)
		}
		if !proto.Equal(taken, fresh) {
			t.Fatalf("answers differ: %v for a registered address, %v for a new one", taken, fresh)
		}
		if body := e.notice(t, "taken6@example.com", auth.NoticeRegistrationAttempt); body == "" || confirmToken.MatchString(body) {
			t.Fatalf("the owner of the registered address was told %q", body)
		}
		_, err = e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "taken6@example.com", Password: "the attacker's password"}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "fresh6@example.com", Password: password}))
		wantCode(t, err, connect.CodeUnauthenticated) // not confirmed yet
		tok := confirmToken.FindString(e.notice(t, "fresh6@example.com", auth.NoticeConfirmRegistration))
		if _, err := e.c.auth.ConfirmRegistration(ctx, as("", &homeplanev1.ConfirmRegistrationRequest{Token: tok})); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if _, err := e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: "fresh6@example.com", Password: password})); err != nil {
			t.Fatalf("login after confirmation: %v", err)
		}

		accepted := 0
		for i := range 20 {
			_, err := register("198.51.100.6", fmt.Sprintf("farm%d@example.com", i), password)
			switch {
			case err == nil:
				accepted++
			case connect.CodeOf(err) != connect.CodeResourceExhausted:
				t.Fatalf("register %d: %v", i, err)
			}
		}
		if accepted > 10 {
			t.Fatalf("%d registrations accepted from one address, want at most 10", accepted)
		}
	}}
}

// held are the attacks of the same round that central already withstood,
// kept here so that they go on failing.
func held(e *realEnv) []abuse {
	ctx := context.Background()
	post := func(t *testing.T, body io.Reader, header http.Header) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.url+hv1c.AuthServiceLoginProcedure, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(b)
	}
	return []abuse{
		{"held a 5 MB request body", func(t *testing.T) {
			body := `{"email":"` + strings.Repeat("a", 5<<20) + `@example.com","password":"x"}`
			if code, msg := post(t, strings.NewReader(body), http.Header{}); !strings.Contains(msg, "resource_exhausted") {
				t.Fatalf("status %d, %s; want resource_exhausted", code, msg)
			}
		}},
		{"held a gzip bomb", func(t *testing.T) {
			var bomb bytes.Buffer
			zw := gzip.NewWriter(&bomb)
			_, _ = io.WriteString(zw, `{"email":"`)
			zeros := make([]byte, 1<<20)
			for range 100 { // 100 MiB once inflated
				_, _ = zw.Write(zeros)
			}
			_ = zw.Close()
			code, msg := post(t, &bomb, http.Header{"Content-Encoding": {"gzip"}})
			if !strings.Contains(msg, "resource_exhausted") {
				t.Fatalf("status %d, %s; want resource_exhausted", code, msg)
			}
		}},
		{"held deeply nested JSON", func(t *testing.T) {
			body := `{"email":` + strings.Repeat("[", 30000) + strings.Repeat("]", 30000) + `}`
			if code, msg := post(t, strings.NewReader(body), http.Header{}); !strings.Contains(msg, "invalid_argument") {
				t.Fatalf("status %d, %s; want invalid_argument", code, msg)
			}
		}},
		{"held slow headers", func(t *testing.T) {
			hangsUp(t, e, func(srv *http.Server) { srv.ReadHeaderTimeout = time.Second },
				"POST "+hv1c.AuthServiceLoginProcedure+" HTTP/1.1\r\nHost: central\r\n")
		}},
		{"held SQL in every field", func(t *testing.T) {
			const email = "o'brien@example.com"
			toks := e.user(t, email)
			name := `Robert'); DROP TABLE homes; --`
			r, err := e.c.home.CreateHome(ctx, as(toks.GetAccessToken(), &homeplanev1.CreateHomeRequest{Name: name}))
			if err != nil || r.Msg.GetHome().GetName() != name {
				t.Fatalf("CreateHome = %v, %v", r, err)
			}
			root := e.admin(t, "sql-admin@example.com")
			users, err := e.c.admin.ListUsers(ctx, as(root.GetAccessToken(), &homeplanev1.ListUsersRequest{Query: "'; DROP TABLE users; --"}))
			if err != nil || len(users.Msg.GetUsers()) != 0 {
				t.Fatalf("ListUsers = %v, %v", users, err)
			}
			if _, err := e.c.auth.Login(ctx, as("", &homeplanev1.LoginRequest{Email: email, Password: password})); err != nil {
				t.Fatalf("login after the attempts: %v", err)
			}
		}},
		{"held markup in names on the dashboard", func(t *testing.T) {
			toks := e.user(t, "markup@example.com")
			if _, err := e.c.home.CreateHome(ctx, as(toks.GetAccessToken(), &homeplanev1.CreateHomeRequest{Name: `<script>alert(1)</script>`})); err != nil {
				t.Fatal(err)
			}
			e.admin(t, "markup-admin@example.com")
			b := e.browser(t, "198.51.100.20")
			if code := b.login(t, "markup-admin@example.com", password); code != http.StatusSeeOther {
				t.Fatalf("dashboard login: status %d", code)
			}
			code, page := b.do(t, http.MethodGet, "/admin/", nil)
			if code != http.StatusOK || strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;alert(1)") {
				t.Fatalf("fleet page (status %d) does not show the name escaped", code)
			}
		}},
		{"held a forged dashboard form from another origin", func(t *testing.T) {
			e.admin(t, "origin-admin@example.com")
			b := e.browser(t, "198.51.100.21")
			if code := b.login(t, "origin-admin@example.com", password); code != http.StatusSeeOther {
				t.Fatalf("dashboard login: status %d", code)
			}
			_, page := b.do(t, http.MethodGet, "/admin/users", nil)
			csrf := between(page, `name="csrf" value="`, `"`)
			req, err := http.NewRequest(http.MethodPost, e.url+"/admin/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("a form posted from another origin: status %d, want 403", resp.StatusCode)
			}
		}},
		{"held a PostgreSQL outage", func(t *testing.T) {
			p := newCutProxy(t, e.dbAddr)
			u, err := url.Parse(e.dbURL)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("connect_timeout", "2")
			u.Host, u.RawQuery = p.addr, q.Encode()
			pool, err := pgxpool.New(ctx, u.String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			accounts := auth.NewService(postgres.NewAuthStore(pool), e.keys, auth.Options{})
			e.user(t, "outage@example.com")
			login := func() error {
				_, _, err := accounts.Login(ctx, "outage@example.com", password)
				return err
			}
			if err := login(); err != nil {
				t.Fatal(err)
			}
			p.cut()
			if err := login(); err == nil || !unreachable(err) {
				t.Fatalf("login while the database is cut off: %v, want a connection failure", err)
			}
			p.restore()
			pollUntil(t, "logins to work again", func() bool { return login() == nil })
		}},
	}
}

// cutProxy forwards TCP connections to a database until cut.
type cutProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *cutProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut closes the listener and every forwarded connection.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *cutProxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// hangsUp sends the start of a request that never ends to the server as
// central configures it (with configure's shorter deadline), and fails
// unless the server hangs up on its own within 10s.
func hangsUp(t *testing.T, e *realEnv, configure func(*http.Server), partial string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config = NewServer(e.handler, slog.New(slog.DiscardHandler))
	configure(srv.Config)
	srv.Start()
	t.Cleanup(srv.Close)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, partial); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(bufio.NewReader(conn))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the connection was still open after 10s")
	}
}
