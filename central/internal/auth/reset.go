package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Password reset tokens: "hpw_" + base64url of 32 random bytes, stored hashed.
const (
	resetPrefix = "hpw_"
	// resetsPerWindow bounds the reset notices one account gets per
	// throttle window, so nobody can flood a user's inbox.
	resetsPerWindow = 3
)

// NoticePasswordReset is the Kind of a password reset notice.
const NoticePasswordReset = "password_reset"

// newToken returns a single-use token (prefix + base64url of 32 random
// bytes) and the SHA-256 that is stored instead of it.
func newToken(prefix string) (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:], nil
}

// tokenHash checks the form of a token newToken(prefix) made and hashes it.
func tokenHash(prefix, tok string) ([]byte, error) {
	if len(tok) != len(prefix)+43 || !strings.HasPrefix(tok, prefix) {
		return nil, fmt.Errorf("%w: malformed token", ErrInvalidToken)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(tok[len(prefix):]); err != nil {
		return nil, fmt.Errorf("%w: malformed token", ErrInvalidToken)
	}
	h := sha256.Sum256([]byte(tok))
	return h[:], nil
}

// hashNew checks and hashes a new password.
func (s *Service) hashNew(ctx context.Context, password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	var phc string
	var herr error
	if err := s.withHashSlot(ctx, func() { phc, herr = hashPassword(password) }); err != nil {
		return "", err
	}
	return phc, herr
}

// ChangePassword replaces the user's password after checking the current
// one, and ends every session of the user, this one included: access
// tokens stop working within SessionCheckTTL, refresh tokens at once.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) error {
	if err := checkPassword(next); err != nil {
		return err
	}
	u, phc, err := s.store.UserByID(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("%w: unknown user", ErrInvalidToken)
	}
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	now := s.opts.Now()
	acct := "acct:" + u.Email
	if !s.accounts.Allowed(acct, now) {
		return ErrThrottled
	}
	var ok bool
	var herr error
	if len(current) <= maxPasswordBytes {
		if err := s.withHashSlot(ctx, func() { ok, _, herr = verifyPassword(phc, current) }); err != nil {
			return err
		}
	}
	if herr != nil {
		s.opts.Logger.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "err", herr)
	}
	if !ok {
		s.accounts.Fail(acct, now)
		return fmt.Errorf("%w: current password is wrong", ErrInvalidInput)
	}
	newPHC, err := s.hashNew(ctx, next)
	if err != nil {
		return err
	}
	if err := s.store.SetPassword(ctx, u.ID, newPHC, now.UTC()); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.SessionsEnded(u.ID)
	s.opts.Logger.InfoContext(ctx, "password changed; sessions ended", "user_id", u.ID)
	return nil
}

// RequestPasswordReset sends a single-use reset token to the account's
// owner through the Notifier. It answers alike whether or not the account
// exists (and for a disabled one); only a client address over its limit
// gets ErrThrottled.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	now := s.opts.Now()
	if addr, ok := ClientAddrFrom(ctx); ok {
		key := AddrKey(addr)
		if !s.addrs.Allowed(key, now) {
			return ErrThrottled
		}
		s.addrs.Fail(key, now) // every request counts against the address
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return nil
	}
	if !s.mayNotify("reset:"+e, now) {
		return nil
	}
	u, _, err := s.store.UserByEmail(ctx, e)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("request password reset: %w", err)
	case u.Disabled:
		return nil
	}
	if s.opts.Notifier == nil {
		return errors.New("request password reset: no notifier configured")
	}
	tok, hash, err := newToken(resetPrefix)
	if err != nil {
		return err
	}
	created := now.UTC()
	if err := s.store.CreatePasswordReset(ctx, PasswordReset{Hash: hash, UserID: u.ID, Created: created, Expires: created.Add(s.opts.ResetTTL)}); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	body := fmt.Sprintf("Someone asked to reset the Homeplane password of %s. If it was you, use this token within %s: %s",
		u.Email, s.opts.ResetTTL, tok)
	if err := s.opts.Notifier.Notify(ctx, Notice{UserID: u.ID, Email: u.Email, Kind: NoticePasswordReset, Body: body}); err != nil {
		return fmt.Errorf("request password reset: notify: %w", err)
	}
	s.opts.Logger.InfoContext(ctx, "password reset requested", "user_id", u.ID)
	return nil
}

// mayNotify counts a notice to the address key names and reports whether
// it stays within the resetsPerWindow notices an address gets per window,
// so that nobody can flood an inbox.
func (s *Service) mayNotify(key string, now time.Time) bool {
	if !s.resets.Allowed(key, now) {
		return false
	}
	s.resets.Fail(key, now)
	return true
}

// ResetPassword sets a new password with a reset token, which is used up,
// and ends every session of the user. An unknown, used or expired token is
// ErrInvalidToken.
func (s *Service) ResetPassword(ctx context.Context, token, next string) error {
	now := s.opts.Now()
	addr, hasAddr := ClientAddrFrom(ctx)
	if hasAddr && !s.addrs.Allowed(AddrKey(addr), now) {
		return ErrThrottled
	}
	hash, err := tokenHash(resetPrefix, token)
	if err == nil {
		err = checkPassword(next)
	}
	if err != nil {
		if hasAddr {
			s.addrs.Fail(AddrKey(addr), now)
		}
		return err
	}
	phc, err := s.hashNew(ctx, next)
	if err != nil {
		return err
	}
	userID, err := s.store.UsePasswordReset(ctx, hash, phc, now.UTC())
	if errors.Is(err, ErrNotFound) {
		if hasAddr {
			s.addrs.Fail(AddrKey(addr), now)
		}
		return fmt.Errorf("%w: unknown, used or expired reset token", ErrInvalidToken)
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	s.SessionsEnded(userID)
	s.opts.Logger.InfoContext(ctx, "password reset; sessions ended", "user_id", userID)
	return nil
}

// SetUserDisabled disables a user, ending every session at once (access
// tokens within SessionCheckTTL on other replicas), or re-enables them.
func (s *Service) SetUserDisabled(ctx context.Context, userID string, disabled bool) error {
	if err := s.store.SetUserDisabled(ctx, userID, disabled, s.opts.Now().UTC()); err != nil {
		return fmt.Errorf("set user disabled: %w", err)
	}
	s.SessionsEnded(userID)
	return nil
}
