package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// refreshSkew refreshes an access token this long before it expires, so a
// token does not lapse on its way to central.
const refreshSkew = 30 * time.Second

// session is the logged-in user's tokens. As a client interceptor it puts
// the access token on every call, refreshing it first when it is about to
// expire, and once more when central rejects it.
type session struct {
	store credentialStore
	creds credentials
	auth  homeplanev1connect.AuthServiceClient
	now   func() time.Time
}

func (a *app) store() (credentialStore, error) {
	dir, err := configDir(a.env.Getenv)
	if err != nil {
		return credentialStore{}, err
	}
	return credentialStore{dir: dir}, nil
}

// session loads the saved session for the central URL in use.
func (a *app) session() (*session, error) {
	base, err := a.baseURL()
	if err != nil {
		return nil, err
	}
	store, err := a.store()
	if err != nil {
		return nil, err
	}
	creds, err := store.load()
	if errors.Is(err, errNotLoggedIn) {
		return nil, fmt.Errorf("not logged in to %s: run 'homectl login'", base)
	}
	if err != nil {
		return nil, err
	}
	if creds.CentralURL != base {
		return nil, fmt.Errorf("logged in to %s, not %s: run 'homectl login'", creds.CentralURL, base)
	}
	return &session{
		store: store,
		creds: creds,
		auth:  homeplanev1connect.NewAuthServiceClient(a.http, base),
		now:   time.Now,
	}, nil
}

// refresh trades the refresh token for new tokens and saves them. A
// rejected refresh token ends the session.
func (s *session) refresh(ctx context.Context) error {
	resp, err := s.auth.Refresh(ctx, connect.NewRequest(&homeplanev1.RefreshRequest{RefreshToken: s.creds.RefreshToken}))
	if connect.CodeOf(err) == connect.CodeUnauthenticated {
		_ = s.store.remove()
		return errors.New("session expired: run 'homectl login'")
	}
	if err != nil {
		return fmt.Errorf("refreshing the session: %w", err)
	}
	t := resp.Msg.GetTokens()
	if t.GetAccessToken() == "" || t.GetRefreshToken() == "" {
		return errors.New("refreshing the session: central sent no tokens")
	}
	s.creds.AccessToken, s.creds.AccessExpiresAt = t.GetAccessToken(), t.GetAccessExpiresAt().AsTime()
	s.creds.RefreshToken, s.creds.RefreshExpiresAt = t.GetRefreshToken(), t.GetRefreshExpiresAt().AsTime()
	if t.GetAccessExpiresAt() == nil {
		s.creds.AccessExpiresAt = time.Time{}
	}
	return s.store.save(s.creds)
}

// freshen refreshes the access token when it is about to expire, and
// reports whether it did.
func (s *session) freshen(ctx context.Context) (bool, error) {
	if exp := s.creds.AccessExpiresAt; exp.IsZero() || s.now().Add(refreshSkew).Before(exp) {
		return false, nil
	}
	return true, s.refresh(ctx)
}

func (s *session) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		refreshed, err := s.freshen(ctx)
		if err != nil {
			return nil, err
		}
		req.Header().Set("Authorization", "Bearer "+s.creds.AccessToken)
		resp, err := next(ctx, req)
		// Unauthenticated is decided before any handler runs, so the retry
		// cannot do anything twice.
		if err == nil || refreshed || connect.CodeOf(err) != connect.CodeUnauthenticated {
			return resp, err
		}
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
		req.Header().Set("Authorization", "Bearer "+s.creds.AccessToken)
		return next(ctx, req)
	}
}

// WrapStreamingClient puts the access token on a stream. A stream cannot
// be refreshed and retried in here, so its caller freshens the session
// before opening it and reopens it after a refresh (see watchTimers).
func (s *session) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+s.creds.AccessToken)
		return conn
	}
}

func (s *session) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// bearer puts a fixed token (a voice device's) on every call.
type bearer string

func (b bearer) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		req.Header().Set("Authorization", "Bearer "+string(b))
		return next(ctx, req)
	}
}

func (b bearer) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		conn.RequestHeader().Set("Authorization", "Bearer "+string(b))
		return conn
	}
}

func (b bearer) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// userClients are the clients of the services a logged-in user calls,
// sharing one session so a refresh happens at most once.
type userClients struct {
	session *session
	auth    homeplanev1connect.AuthServiceClient
	home    homeplanev1connect.HomeServiceClient
	intent  homeplanev1connect.IntentServiceClient
}

func (a *app) userClients() (userClients, error) {
	return a.userClientsOver(a.http)
}

// userClientsOver is userClients over hc, for calls that outlive a.http's
// timeout.
func (a *app) userClientsOver(hc *http.Client) (userClients, error) {
	s, err := a.session()
	if err != nil {
		return userClients{}, err
	}
	base, _ := a.baseURL()
	opt := connect.WithInterceptors(s)
	return userClients{
		session: s,
		auth:    homeplanev1connect.NewAuthServiceClient(hc, base, opt),
		home:    homeplanev1connect.NewHomeServiceClient(hc, base, opt),
		intent:  homeplanev1connect.NewIntentServiceClient(hc, base, opt),
	}, nil
}
