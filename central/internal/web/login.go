package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
)

// loginToken is the login form's CSRF token: random, bound to the login
// cookie by an HMAC under a per-process key.
func (s *Server) loginToken(nonce string) string {
	m := hmac.New(sha256.New, s.loginKey)
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// safeNext keeps a post-login redirect inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return Prefix
	}
	return next
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.showLogin(w, r, http.StatusOK, "")
}

func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, status int, problem string) {
	nonce := rand.Text()
	s.setCookie(w, r, loginCookie, nonce, s.opts.Now().Add(time.Hour))
	s.render(w, r, "login", status, map[string]any{
		"Title": "Log in", "CSRF": s.loginToken(nonce), "Next": safeNext(r.FormValue("next")), "Problem": problem,
	})
}

// login starts a dashboard session. The request's context carries the
// client's address (rpc.ClientAddrs), so failures count against the same
// per-account and per-address limits as the API's logins.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.loginToken(c.Value))) {
		s.showLogin(w, r, http.StatusForbidden, "The form expired. Please try again.")
		return
	}
	email := r.PostFormValue("email")
	u, toks, err := s.deps.Accounts.Login(r.Context(), email, r.PostFormValue("password"))
	switch {
	case errors.Is(err, auth.ErrThrottled):
		s.showLogin(w, r, http.StatusTooManyRequests, "Too many attempts. Please try again later.")
		return
	case err == nil && !s.admits(auth.Claims{UserID: u.ID, Role: u.Role}):
		// Not an admin: the session just started is of no use here.
		if lerr := s.deps.Accounts.Logout(r.Context(), toks.Refresh); lerr != nil {
			s.opts.Logger.WarnContext(r.Context(), "end a non-admin's dashboard session", "err", lerr)
		}
		fallthrough
	case err != nil:
		// Wrong password and "not an admin" read alike.
		s.showLogin(w, r, http.StatusUnauthorized, "Wrong email or password, or not an admin account.")
		return
	}
	s.setCookie(w, r, loginCookie, "", time.Time{})
	s.setSession(w, r, toks)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// setSession stores a session's tokens in its cookies: the access token is
// the session, the refresh token renews it and lets logout end it.
func (s *Server) setSession(w http.ResponseWriter, r *http.Request, toks auth.Tokens) {
	s.setCookie(w, r, sessionCookie, toks.Access, toks.AccessExpires)
	s.setCookie(w, r, refreshCookie, toks.Refresh, toks.RefreshExpires)
}

// auditedLogins is the audit decorator around the dashboard's logins: every
// attempt leaves a record, committed before the answer. A refused one
// names the email tried (cut to a sane length), a successful one the user;
// a user the dashboard does not admit counts as refused.
type auditedLogins struct {
	Accounts
	auditor Auditor
	admits  func(auth.Claims) bool
	log     *slog.Logger
}

func (a auditedLogins) Login(ctx context.Context, email, password string) (auth.User, auth.Tokens, error) {
	u, toks, err := a.Accounts.Login(ctx, email, password)
	if len(email) > 254 {
		email = email[:254]
	}
	ev := audit.Event{Kind: audit.KindLogin, RequestID: "web-" + rand.Text(), UserID: u.ID, Action: "AdminDashboardLogin",
		Outcome: audit.OutcomeOK, Detail: map[string]any{"via": "admin dashboard"}}
	if addr, ok := auth.ClientAddrFrom(ctx); ok {
		ev.ClientAddr = addr
	}
	switch {
	case err != nil:
		ev.Kind, ev.Outcome, ev.UserID, ev.Error = audit.KindLoginFailed, audit.OutcomeDenied, "", err.Error()
		ev.Detail["email"] = email
	case !a.admits(auth.Claims{UserID: u.ID, Role: u.Role}):
		ev.Kind, ev.Outcome, ev.Error = audit.KindLoginFailed, audit.OutcomeDenied, "not an admin"
	}
	if aerr := a.auditor.Event(ctx, ev); aerr != nil {
		a.log.ErrorContext(ctx, "audit dashboard login", "err", aerr)
		if err == nil {
			// No session starts without its record.
			if lerr := a.Accounts.Logout(ctx, toks.Refresh); lerr != nil {
				a.log.WarnContext(ctx, "end an unaudited dashboard session", "err", lerr)
			}
			return auth.User{}, auth.Tokens{}, fmt.Errorf("dashboard login: audit: %w", aerr)
		}
	}
	return u, toks, err
}

// logout ends the session on the server, not only in the browser: the
// refresh-token family is revoked, and with it the access token in the
// cookie, so a copy of the cookie stops working too.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ session) {
	if c, err := r.Cookie(refreshCookie); err == nil && c.Value != "" && len(c.Value) < 4096 {
		if err := s.deps.Accounts.Logout(r.Context(), c.Value); err != nil && !errors.Is(err, auth.ErrInvalidToken) {
			s.fail(w, r, err)
			return
		}
	}
	s.setCookie(w, r, sessionCookie, "", time.Time{})
	s.setCookie(w, r, refreshCookie, "", time.Time{})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}
