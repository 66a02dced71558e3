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

// safeNext keeps a post-login redirect inside sc's part of the site: sc's
// path itself, or below it, or it with a query; no backslash and no
// control character, which browsers drop or read as a slash.
func safeNext(sc scope, next string) string {
	base := strings.TrimSuffix(sc.path, "/")
	rest, ok := strings.CutPrefix(next, base)
	if !ok || (rest != "" && rest[0] != '/' && rest[0] != '?') || strings.HasPrefix(next, "//") ||
		strings.IndexFunc(next, func(r rune) bool { return r == '\\' || r < 0x20 || r == 0x7f }) >= 0 {
		return sc.path
	}
	return next
}

// loginPageIn serves sc's login form.
func (s *Server) loginPageIn(sc scope) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.showLogin(sc, w, r, http.StatusOK, "") }
}

func (s *Server) showLogin(sc scope, w http.ResponseWriter, r *http.Request, status int, problem string) {
	nonce := rand.Text()
	s.setCookie(sc, w, r, sc.login, nonce, s.opts.Now().Add(time.Hour))
	s.render(w, r, "login", status, map[string]any{
		"Title": "Log in", "CSRF": s.loginToken(nonce), "Next": safeNext(sc, r.FormValue("next")), "Problem": problem,
		"Heading": sc.heading, "Action": loginPath(sc),
	})
}

// loginIn starts a session in sc. The request's context carries the
// client's address (rpc.ClientAddrs), so failures count against the same
// per-account and per-address limits as the API's logins.
func (s *Server) loginIn(sc scope) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sc.login)
		if err != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(s.loginToken(c.Value))) {
			s.showLogin(sc, w, r, http.StatusForbidden, "The form expired. Please try again.")
			return
		}
		email := r.PostFormValue("email")
		u, toks, err := sc.accounts.Login(r.Context(), email, r.PostFormValue("password"))
		switch {
		case errors.Is(err, auth.ErrThrottled):
			s.showLogin(sc, w, r, http.StatusTooManyRequests, "Too many attempts. Please try again later.")
			return
		case err == nil && !sc.admits(auth.Claims{UserID: u.ID, Role: u.Role}):
			// Not admitted here: the session just started is of no use.
			if lerr := sc.accounts.Logout(r.Context(), toks.Refresh); lerr != nil {
				s.opts.Logger.WarnContext(r.Context(), "end a session not admitted here", "path", sc.path, "err", lerr)
			}
			fallthrough
		case err != nil:
			// Wrong password and "not an admin" read alike.
			problem := "Wrong email or password."
			if sc.path == Prefix {
				problem = "Wrong email or password, or not an admin account."
			}
			s.showLogin(sc, w, r, http.StatusUnauthorized, problem)
			return
		}
		s.setCookie(sc, w, r, sc.login, "", time.Time{})
		s.setSession(sc, w, r, toks)
		http.Redirect(w, r, safeNext(sc, r.PostFormValue("next")), http.StatusSeeOther)
	}
}

// setSession stores a session's tokens in sc's cookies: the access token
// is the session, the refresh token renews it and lets logout end it.
func (s *Server) setSession(sc scope, w http.ResponseWriter, r *http.Request, toks auth.Tokens) {
	s.setCookie(sc, w, r, sc.session, toks.Access, toks.AccessExpires)
	s.setCookie(sc, w, r, sc.refresh, toks.Refresh, toks.RefreshExpires)
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
	via     string // "admin dashboard", "pairing page"
	action  string // "AdminDashboardLogin", "PairPageLogin"
}

func (a auditedLogins) Login(ctx context.Context, email, password string) (auth.User, auth.Tokens, error) {
	u, toks, err := a.Accounts.Login(ctx, email, password)
	if len(email) > 254 {
		email = email[:254]
	}
	ev := audit.Event{Kind: audit.KindLogin, RequestID: "web-" + rand.Text(), UserID: u.ID, Action: a.action,
		Outcome: audit.OutcomeOK, Detail: map[string]any{"via": a.via}}
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
	s.setCookie(s.admin, w, r, sessionCookie, "", time.Time{})
	s.setCookie(s.admin, w, r, refreshCookie, "", time.Time{})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}
