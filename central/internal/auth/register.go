package auth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Registration tokens: "hpr_" + base64url of 32 random bytes, stored hashed.
const registrationPrefix = "hpc_"

// Notice kinds of registration.
const (
	// NoticeConfirmRegistration carries the token that confirms a new account.
	NoticeConfirmRegistration = "confirm_registration"
	// NoticeRegistrationAttempt tells an account's owner that someone tried
	// to register their address again.
	NoticeRegistrationAttempt = "registration_attempt"
)

// PendingRegistration is a registration waiting for its confirmation: only
// the token's hash is kept.
type PendingRegistration struct {
	Hash         []byte
	Email        string
	PasswordHash string
	Created      time.Time
	Expires      time.Time
}

// Register asks for an account with role "user". It answers alike whether
// or not the address is registered already, after the same hashing: a new
// address gets a confirmation token through the Notifier and the account
// exists once ConfirmRegistration is called with it; the owner of a
// registered address is told that someone tried. A client address (see
// WithClientAddr) gets RegistrationsPerAddr requests per throttle window,
// then ErrThrottled; an address gets at most 3 notices per window.
func (s *Service) Register(ctx context.Context, email, password string) error {
	now := s.opts.Now()
	if addr, ok := ClientAddrFrom(ctx); ok {
		// Every request counts: each costs a hash, and a burst of them
		// from one address is account farming or enumeration.
		key := AddrKey(addr)
		if !s.registrations.Allowed(key, now) {
			return ErrThrottled
		}
		s.registrations.Fail(key, now)
	}
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	phc, err := s.hashNew(ctx, password)
	if err != nil {
		return err
	}
	if s.opts.AutoConfirm {
		if _, err := s.createUser(ctx, email, phc); err != nil && !errors.Is(err, ErrEmailTaken) {
			return err
		}
		return nil
	}
	if s.opts.Notifier == nil {
		return errors.New("register: no notifier configured")
	}
	// Over the bound on notices the request is answered all the same.
	if !s.mayNotify("register:"+email, now) {
		return nil
	}
	u, _, err := s.store.UserByEmail(ctx, email)
	switch {
	case err == nil:
		body := fmt.Sprintf("Someone tried to register a Homeplane account for %s, which already has one. "+
			"If it was you, log in, or reset your password if you forgot it; otherwise ignore this message.", u.Email)
		if err := s.opts.Notifier.Notify(ctx, Notice{UserID: u.ID, Email: u.Email, Kind: NoticeRegistrationAttempt, Body: body}); err != nil {
			return fmt.Errorf("register: notify: %w", err)
		}
		return nil
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("register: %w", err)
	}
	tok, hash, err := newToken(registrationPrefix)
	if err != nil {
		return err
	}
	created := now.UTC()
	p := PendingRegistration{Hash: hash, Email: email, PasswordHash: phc, Created: created, Expires: created.Add(s.opts.ConfirmTTL)}
	if err := s.store.CreatePendingRegistration(ctx, p); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	body := fmt.Sprintf("Someone asked for a Homeplane account for %s. If it was you, confirm it within %s "+
		"(homectl register confirm TOKEN): %s", email, s.opts.ConfirmTTL, tok)
	if err := s.opts.Notifier.Notify(ctx, Notice{Email: email, Kind: NoticeConfirmRegistration, Body: body}); err != nil {
		return fmt.Errorf("register: notify: %w", err)
	}
	return nil
}

// ConfirmRegistration creates the account a registration token names, uses
// the token up and logs the new user in. An unknown, used or expired token,
// or one whose address was registered meanwhile, is ErrInvalidToken; each
// counts against the client address as a failed login does.
func (s *Service) ConfirmRegistration(ctx context.Context, token string) (User, Tokens, error) {
	now := s.opts.Now()
	addr, hasAddr := ClientAddrFrom(ctx)
	if hasAddr && !s.addrs.Allowed(AddrKey(addr), now) {
		return User{}, Tokens{}, ErrThrottled
	}
	fail := func(err error) (User, Tokens, error) {
		if hasAddr {
			s.addrs.Fail(AddrKey(addr), now)
		}
		return User{}, Tokens{}, err
	}
	hash, err := tokenHash(registrationPrefix, token)
	if err != nil {
		return fail(err)
	}
	id, err := newUUID()
	if err != nil {
		return User{}, Tokens{}, err
	}
	u, err := s.store.ConfirmRegistration(ctx, hash, User{ID: id, Role: RoleUser, CreatedAt: now.UTC()}, now.UTC())
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrEmailTaken) {
		return fail(fmt.Errorf("%w: unknown, used or expired registration token", ErrInvalidToken))
	}
	if err != nil {
		return User{}, Tokens{}, fmt.Errorf("confirm registration: %w", err)
	}
	toks, err := s.startSession(ctx, u)
	if err != nil {
		return User{}, Tokens{}, err
	}
	s.opts.Logger.InfoContext(ctx, "user registered", "user_id", u.ID)
	return u, toks, nil
}

// CreateUser creates a confirmed account with role "user" at once, for
// callers that vouch for the address themselves (operators, tests). It
// returns ErrEmailTaken for a registered address.
func (s *Service) CreateUser(ctx context.Context, email, password string) (User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return User{}, err
	}
	phc, err := s.hashNew(ctx, password)
	if err != nil {
		return User{}, err
	}
	return s.createUser(ctx, email, phc)
}

func (s *Service) createUser(ctx context.Context, email, phc string) (User, error) {
	id, err := newUUID()
	if err != nil {
		return User{}, err
	}
	u, err := s.store.CreateUser(ctx, User{ID: id, Email: email, Role: RoleUser, CreatedAt: s.opts.Now().UTC()}, phc)
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	s.opts.Logger.InfoContext(ctx, "user registered", "user_id", u.ID)
	return u, nil
}
