// Package web serves the operators' dashboard under /admin/: server-rendered
// pages (html/template, no JavaScript) for the fleet's health with small
// CPU and memory charts, user management, audit search and the usage report.
// Admins log in with their account; the session is their access token in an
// HttpOnly, SameSite=Strict cookie, and every form carries a CSRF token
// derived from it.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/fleet"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/pairing"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// Accounts logs admins in, checks, renews and ends their sessions (auth.Service).
type Accounts interface {
	Login(ctx context.Context, email, password string) (auth.User, auth.Tokens, error)
	Verify(ctx context.Context, accessToken string) (auth.Claims, error)
	Refresh(ctx context.Context, refreshToken string) (auth.Tokens, error)
	Logout(ctx context.Context, refreshToken string) error
}

// Operators carries out user management and lists the fleet (admin.Service).
type Operators interface {
	Users(ctx context.Context, query, afterEmail string, limit int) ([]auth.User, error)
	Homes(ctx context.Context, afterID string, limit int) ([]admin.FleetHome, error)
	SetUserDisabled(ctx context.Context, a admin.Actor, userID string, disabled bool) (auth.User, error)
	SetUserRole(ctx context.Context, a admin.Actor, userID, role string) (auth.User, error)
	ResetUserPassword(ctx context.Context, a admin.Actor, userID string) error
}

// AuditLog reads audit records (postgres.AuditStore).
type AuditLog interface {
	Records(ctx context.Context, f audit.Filter) ([]audit.Record, error)
}

// IntentStats sums up intent requests per hour (postgres.AuditStore).
type IntentStats interface {
	IntentStats(ctx context.Context, since, until time.Time) ([]audit.HourStats, error)
}

// UsageReports computes usage reports (usage.Reporter).
type UsageReports interface {
	Report(ctx context.Context, since, until time.Time) ([]usage.Line, error)
	Daily(ctx context.Context, since, until time.Time, s usage.Scope) ([]usage.Day, error)
	Currency() string
}

// Samples gives a home's recent resource samples for its charts (usage.Recorder).
type Samples interface {
	Recent(homeID string) []usage.Sample
}

// Presence tells whether a home's agent is connected (presence.Tracker).
type Presence interface {
	Online(homeID string) bool
	LastSeen(homeID string) (time.Time, bool)
}

// Instances tells a home's latest Home Assistant status.
type Instances interface {
	Instance(homeID string) (*homeplanev1.Instance, bool)
}

// Auditor records security events (audit.Writer).
type Auditor interface {
	Event(ctx context.Context, e audit.Event) error
}

// Homes lists a user's homes for the pairing page (home.Service).
type Homes interface {
	List(ctx context.Context, ownerID string) ([]home.Home, error)
}

// Pairings answers the codes voice devices show (pairing.Service).
type Pairings interface {
	Approve(ctx context.Context, a pairing.Actor, userCode, homeID, name, area string) (string, error)
	Deny(ctx context.Context, a pairing.Actor, userCode string) error
}

// Deps are what the dashboard reads and changes. Presence, Instances,
// Samples, Auditor, Stats and Fleet may be nil; without Homes and Pairings
// there is no pairing page.
type Deps struct {
	Accounts  Accounts
	Operators Operators
	Audit     AuditLog
	Usage     UsageReports
	Presence  Presence
	Instances Instances
	Samples   Samples
	Auditor   Auditor
	Stats     IntentStats
	Fleet     fleet.Reader
	Homes     Homes
	Pairings  Pairings
}

// Options tunes the dashboard.
type Options struct {
	// Admits says who may use the dashboard (rpc.DashboardAdmits, the API's
	// policy table); required.
	Admits func(auth.Claims) bool
	// Errors words the errors of domain calls for the caller (rpc.HTTPError,
	// the API's error mapping); ok false means an unexpected error. Nil
	// treats every error as unexpected.
	Errors func(error) (status int, msg string, ok bool)
	Logger *slog.Logger
	// SecureCookies marks cookies Secure even on plain HTTP, for a server
	// behind a TLS-terminating proxy. Requests over TLS always get Secure.
	SecureCookies bool
	Now           func() time.Time
}

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Server is the dashboard's http.Handler.
type Server struct {
	deps  Deps
	opts  Options
	pages map[string]*template.Template
	mux   *http.ServeMux
	// loginKey signs the login form's CSRF token; a restart only means
	// reloading the login page.
	loginKey []byte
	// admin is the dashboard's part of the site, pair the pairing page's.
	admin, pair scope
}

// scope is a part of the site with its own session cookies, login form
// and rule of who may use it: the dashboard admits admins, the pairing
// page every user.
type scope struct {
	path                    string // where it lives and its cookies apply
	session, refresh, login string // cookie names
	heading                 string // of its login form
	accounts                Accounts
	admits                  func(auth.Claims) bool
}

// PairPath is the page where a person approves a voice device's code.
const PairPath = "/pair"

// Prefix is where the dashboard lives.
const Prefix = "/admin/"

// New returns the dashboard. It panics on a missing required dependency,
// which is a wiring mistake.
func New(deps Deps, opts Options) *Server {
	if deps.Accounts == nil || deps.Operators == nil || deps.Audit == nil || deps.Usage == nil || opts.Admits == nil {
		panic("web: Accounts, Operators, Audit, Usage and Options.Admits are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Errors == nil {
		opts.Errors = func(error) (int, string, bool) { return 0, "", false }
	}
	anyUser := func(c auth.Claims) bool { return c.UserID != "" }
	pairAccounts := deps.Accounts
	if deps.Auditor != nil {
		pairAccounts = auditedLogins{Accounts: deps.Accounts, auditor: deps.Auditor, admits: anyUser, log: opts.Logger,
			via: "pairing page", action: "PairPageLogin"}
		deps.Accounts = auditedLogins{Accounts: deps.Accounts, auditor: deps.Auditor, admits: opts.Admits, log: opts.Logger,
			via: "admin dashboard", action: "AdminDashboardLogin"}
	}
	s := &Server{deps: deps, opts: opts, pages: map[string]*template.Template{}, mux: http.NewServeMux(), loginKey: make([]byte, 32)}
	s.admin = scope{path: Prefix, session: sessionCookie, refresh: refreshCookie, login: loginCookie,
		heading: "Operator login", accounts: deps.Accounts, admits: opts.Admits}
	s.pair = scope{path: PairPath, session: "homeplane_pair", refresh: "homeplane_pair_refresh", login: "homeplane_pair_login",
		heading: "Log in to pair a device", accounts: pairAccounts, admits: anyUser}
	_, _ = rand.Read(s.loginKey)
	for _, name := range []string{"login", "fleet", "users", "audit", "usage", "pair"} {
		s.pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html"))
	}
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /admin/static/", http.StripPrefix("/admin/static/", filesOnly(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /admin/login", s.loginPageIn(s.admin))
	s.mux.HandleFunc("POST /admin/login", s.loginIn(s.admin))
	s.mux.HandleFunc("POST /admin/logout", s.authed(s.logout))
	s.mux.HandleFunc("GET /admin/{$}", s.authed(s.fleet))
	s.mux.HandleFunc("GET /admin/users", s.authed(s.users))
	s.mux.HandleFunc("POST /admin/users/{id}/{action}", s.authed(s.userAction))
	s.mux.HandleFunc("GET /admin/audit", s.authed(s.audit))
	s.mux.HandleFunc("GET /admin/usage", s.authed(s.usage))
	s.mux.HandleFunc("GET /admin/usage.csv", s.authed(s.usageCSV))
	if deps.Homes != nil && deps.Pairings != nil {
		s.mux.HandleFunc("GET "+PairPath+"/login", s.loginPageIn(s.pair))
		s.mux.HandleFunc("POST "+PairPath+"/login", s.loginIn(s.pair))
		s.mux.HandleFunc("GET "+PairPath, s.authedIn(s.pair, s.pairPage))
		s.mux.HandleFunc("POST "+PairPath, s.authedIn(s.pair, s.pairDecide))
	}
	return s
}

// filesOnly serves the static files but no listing of a folder: what the
// dashboard ships is its business, not a page to browse.
func filesOnly(files http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// ServeHTTP adds the security headers every page gets.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s.mux.ServeHTTP(w, r)
}

const (
	sessionCookie = "homeplane_admin"
	refreshCookie = "homeplane_admin_refresh"
	loginCookie   = "homeplane_admin_login"
)

// session is a logged-in admin.
type session struct {
	claims auth.Claims
	csrf   string
	token  string
}

type handler func(w http.ResponseWriter, r *http.Request, sess session)

// authed runs h for a logged-in admin, sends others to the login page, and
// checks the CSRF token (and Origin, when sent) of every POST. A page
// loaded after the access token expired renews the session with the
// refresh token.
func (s *Server) authed(h handler) http.HandlerFunc { return s.authedIn(s.admin, h) }

// authedIn is authed for the part of the site sc.
func (s *Server) authedIn(sc scope, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, ok := s.sessionIn(sc, w, r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, loginPath(sc)+"?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && !s.postAllowed(r, sess.csrf) {
			http.Error(w, "invalid form token: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r, sess)
	}
}

// loginPath is where sc's login form lives.
func loginPath(sc scope) string { return strings.TrimSuffix(sc.path, "/") + "/login" }

// sessionIn returns the session of sc from its cookies, renewing it on a
// GET when the access token expired.
func (s *Server) sessionIn(sc scope, w http.ResponseWriter, r *http.Request) (session, bool) {
	ctx := r.Context()
	if c, err := r.Cookie(sc.session); err == nil && len(c.Value) < 4096 {
		if claims, err := sc.accounts.Verify(ctx, c.Value); err == nil && sc.admits(claims) {
			return session{claims: claims, token: c.Value, csrf: csrfFor(c.Value)}, true
		}
	}
	c, err := r.Cookie(sc.refresh)
	if err != nil || r.Method != http.MethodGet || len(c.Value) > 4096 {
		return session{}, false
	}
	toks, err := sc.accounts.Refresh(ctx, c.Value)
	if err != nil {
		return session{}, false
	}
	claims, err := sc.accounts.Verify(ctx, toks.Access)
	if err != nil || !sc.admits(claims) {
		return session{}, false
	}
	s.setSession(sc, w, r, toks)
	return session{claims: claims, token: toks.Access, csrf: csrfFor(toks.Access)}, true
}

// admits reports whether the caller may use the dashboard.
func (s *Server) admits(c auth.Claims) bool { return s.opts.Admits(c) }

// csrfFor derives the CSRF token from the session token: a cross-site page
// can neither read the cookie nor compute the token.
func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte("homeplane admin csrf"))
	m.Write([]byte(token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) postAllowed(r *http.Request, want string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.opts.SecureCookies }

func (s *Server) setCookie(sc scope, w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: sc.path, HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode}
	if expires.IsZero() {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// render writes a page; a template error is logged and answered generically.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, status int, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages[name].Execute(w, data); err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "render admin page", "page", name, "err", err)
	}
}

// fail answers an error of a domain call as Options.Errors words it (the
// API's error mapping); the rest is logged and answered generically.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if status, msg, ok := s.opts.Errors(err); ok {
		http.Error(w, msg, status)
		return
	}
	s.opts.Logger.ErrorContext(r.Context(), "admin page failed", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}
