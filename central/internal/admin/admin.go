// Package admin holds what operators do to accounts and see of the fleet:
// listing and searching users, disabling and re-enabling them, changing
// roles, forcing a password reset, and every home with its owner. Each change
// leaves a security event in the audit log.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
)

var (
	ErrNotFound     = errors.New("not found")
	ErrInvalidInput = errors.New("invalid input")
)

// FleetHome is a home as an operator sees it.
type FleetHome struct {
	Home          home.Home
	Owner         auth.User
	AgentHostname string
	AgentVersion  string
}

// Store reads and changes what the Service manages (postgres.AdminStore).
type Store interface {
	// ListUsers returns users whose email contains query, ordered by email,
	// after the given email.
	ListUsers(ctx context.Context, query, afterEmail string, limit int) ([]auth.User, error)
	// User returns ErrNotFound for an unknown id.
	User(ctx context.Context, userID string) (auth.User, error)
	// SetUserRole changes the role and ends the user's sessions, so no token
	// keeps the old role.
	SetUserRole(ctx context.Context, userID, role string, now time.Time) error
	// ListHomes returns every home ordered by id, after the given id.
	ListHomes(ctx context.Context, afterID string, limit int) ([]FleetHome, error)
}

// Accounts is what the Service needs from the account service (auth.Service).
type Accounts interface {
	// SetUserDisabled ends every session of a disabled user at once.
	SetUserDisabled(ctx context.Context, userID string, disabled bool) error
	RequestPasswordReset(ctx context.Context, email string) error
	// SessionsEnded is told that a role change ended every session of the
	// user, so that their tokens stop working at once.
	SessionsEnded(userID string)
}

// Auditor commits security events (audit.Writer).
type Auditor interface {
	Event(ctx context.Context, e audit.Event) error
}

// Actor is the operator acting, for the audit log.
type Actor struct {
	UserID    string
	RequestID string
}

// Options tunes a Service.
type Options struct {
	Now    func() time.Time
	Logger *slog.Logger
}

// Service carries out operator actions.
type Service struct {
	store    Store
	accounts Accounts
	audit    Auditor
	opts     Options
}

// New returns a Service.
func New(store Store, accounts Accounts, auditor Auditor, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, accounts: accounts, audit: auditor, opts: opts}
}

// MaxPageSize bounds every listing.
const MaxPageSize = 1000

func pageSize(n int) int {
	if n <= 0 {
		return 50
	}
	return min(n, MaxPageSize)
}

// Users lists users whose email contains query (case-insensitively), ordered
// by email, continuing after afterEmail. It returns up to limit users.
func (s *Service) Users(ctx context.Context, query, afterEmail string, limit int) ([]auth.User, error) {
	if len(query) > 254 || len(afterEmail) > 254 {
		return nil, fmt.Errorf("%w: query too long", ErrInvalidInput)
	}
	return s.store.ListUsers(ctx, strings.ToLower(strings.TrimSpace(query)), afterEmail, pageSize(limit))
}

// Homes lists every home with its owner, ordered by id, after afterID.
func (s *Service) Homes(ctx context.Context, afterID string, limit int) ([]FleetHome, error) {
	return s.store.ListHomes(ctx, afterID, pageSize(limit))
}

// SetUserDisabled disables (ending every session) or re-enables a user.
func (s *Service) SetUserDisabled(ctx context.Context, a Actor, userID string, disabled bool) (auth.User, error) {
	action := "EnableUser"
	if disabled {
		action = "DisableUser"
	}
	if a.UserID == userID && disabled {
		return auth.User{}, fmt.Errorf("%w: an operator cannot disable their own account", ErrInvalidInput)
	}
	return s.change(ctx, a, userID, action, map[string]any{"disabled": disabled}, func() error {
		return s.accounts.SetUserDisabled(ctx, userID, disabled)
	})
}

// SetUserRole gives a user the role "user" or "admin"; the user's sessions end.
func (s *Service) SetUserRole(ctx context.Context, a Actor, userID, role string) (auth.User, error) {
	if role != auth.RoleUser && role != auth.RoleAdmin {
		return auth.User{}, fmt.Errorf("%w: role must be %q or %q", ErrInvalidInput, auth.RoleUser, auth.RoleAdmin)
	}
	if a.UserID == userID && role != auth.RoleAdmin {
		return auth.User{}, fmt.Errorf("%w: an operator cannot demote themselves", ErrInvalidInput)
	}
	return s.change(ctx, a, userID, "SetUserRole", map[string]any{"role": role}, func() error {
		if err := s.store.SetUserRole(ctx, userID, role, s.opts.Now().UTC()); err != nil {
			return err
		}
		s.accounts.SessionsEnded(userID)
		return nil
	})
}

// resetTimeout bounds the reset request, which runs outside the operator's
// request so that the operator's address is not throttled as if it were
// guessing tokens.
const resetTimeout = 10 * time.Second

// ResetUserPassword sends the user a single-use reset token through the
// account service's notifier (the notification outbox when no mail is set up).
func (s *Service) ResetUserPassword(ctx context.Context, a Actor, userID string) error {
	_, err := s.change(ctx, a, userID, "ResetUserPassword", nil, func() error {
		u, err := s.user(ctx, userID)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(context.Background(), resetTimeout)
		defer cancel()
		return s.accounts.RequestPasswordReset(rctx, u.Email)
	})
	return err
}

// change runs fn for an existing user, audits the outcome and returns the
// user as it is afterwards.
func (s *Service) change(ctx context.Context, a Actor, userID, action string, detail map[string]any, fn func() error) (auth.User, error) {
	if _, err := s.user(ctx, userID); err != nil {
		return auth.User{}, err
	}
	err := fn()
	if detail == nil {
		detail = map[string]any{}
	}
	detail["target_user_id"] = userID
	ev := audit.Event{Kind: audit.KindAdmin, RequestID: a.RequestID, UserID: a.UserID, Action: action,
		Outcome: audit.OutcomeOK, Detail: detail, Text: action + " " + userID}
	if err != nil {
		ev.Outcome, ev.Error = audit.OutcomeFailed, err.Error()
	}
	if aerr := s.audit.Event(ctx, ev); aerr != nil {
		return auth.User{}, fmt.Errorf("admin: audit %s: %w", action, aerr)
	}
	if err != nil {
		if errors.Is(err, auth.ErrNotFound) {
			return auth.User{}, ErrNotFound
		}
		return auth.User{}, fmt.Errorf("admin: %s: %w", action, err)
	}
	s.opts.Logger.InfoContext(ctx, "admin action", "action", action, "target_user_id", userID, "admin_id", a.UserID)
	return s.user(ctx, userID)
}

func (s *Service) user(ctx context.Context, userID string) (auth.User, error) {
	if !home.ValidID(userID) {
		return auth.User{}, ErrNotFound
	}
	u, err := s.store.User(ctx, userID)
	if errors.Is(err, ErrNotFound) || errors.Is(err, auth.ErrNotFound) {
		return auth.User{}, ErrNotFound
	}
	return u, err
}
