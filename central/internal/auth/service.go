package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Options tunes a Service. Zero fields take the defaults shown.
type Options struct {
	AccessTTL  time.Duration // 15m
	RefreshTTL time.Duration // 7 days; each rotation grants at most this much
	// SessionTTL is the absolute lifetime of a refresh-token family (7 days):
	// after it the user logs in again however often they refreshed.
	SessionTTL time.Duration
	// ReuseGrace treats the reuse of a token rotated at most this long ago
	// (10s) as a client racing itself, such as two tabs refreshing at once:
	// the late request is refused but the family, and so the winner's new
	// pair, survives. A later reuse revokes the family, as a stolen token's
	// would. Negative: revoke on any reuse.
	ReuseGrace time.Duration
	Issuer     string // "homeplane"
	Audience   string // "homeplane"
	// Leeway tolerates clock skew between replicas when checking exp and iat.
	Leeway time.Duration // 0
	// MaxConcurrentHashes bounds argon2id runs in flight (19 MiB each);
	// default 2×GOMAXPROCS.
	MaxConcurrentHashes int

	// Login throttling: at most AccountFailures failed logins per account
	// (10) and AddrFailures per client address (50) in each ThrottleWindow
	// (15m). An unknown account is throttled exactly like a known one.
	AccountFailures int
	AddrFailures    int
	ThrottleWindow  time.Duration
	// RegistrationsPerAddr bounds Register requests per client address in
	// each ThrottleWindow (10).
	RegistrationsPerAddr int
	// ResetTTL is how long a password reset token works (1h).
	ResetTTL time.Duration
	// ConfirmTTL is how long a registration waits for its confirmation (24h).
	ConfirmTTL time.Duration
	// AutoConfirm makes Register create the account at once, without the
	// confirmation mail: for development and load runs only, since then
	// whether the chosen password logs in tells whether the address was
	// free (ADR 0027).
	AutoConfirm bool
	// SessionCheckTTL bounds how long Verify trusts what it last read about
	// a user's sessions (5s): a password change, a reset or disabling the
	// user ends their access tokens on every replica within this time.
	SessionCheckTTL time.Duration
	// Notifier delivers password reset tokens; without one a reset request
	// fails with an internal error.
	Notifier Notifier

	Now    func() time.Time
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.AccessTTL <= 0 {
		o.AccessTTL = 15 * time.Minute
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 7 * 24 * time.Hour
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 7 * 24 * time.Hour
	}
	if o.ReuseGrace == 0 {
		o.ReuseGrace = 10 * time.Second
	}
	if o.Issuer == "" {
		o.Issuer = "homeplane"
	}
	if o.Audience == "" {
		o.Audience = "homeplane"
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = 2 * runtime.GOMAXPROCS(0)
	}
	if o.AccountFailures <= 0 {
		o.AccountFailures = 10
	}
	if o.AddrFailures <= 0 {
		o.AddrFailures = 50
	}
	if o.ThrottleWindow <= 0 {
		o.ThrottleWindow = 15 * time.Minute
	}
	if o.RegistrationsPerAddr <= 0 {
		o.RegistrationsPerAddr = 10
	}
	if o.ResetTTL <= 0 {
		o.ResetTTL = time.Hour
	}
	if o.ConfirmTTL <= 0 {
		o.ConfirmTTL = 24 * time.Hour
	}
	if o.SessionCheckTTL <= 0 {
		o.SessionCheckTTL = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Service registers users, logs them in and issues and checks their tokens.
type Service struct {
	store  Store
	keys   atomic.Pointer[Keys]
	opts   Options
	parser *jwt.Parser
	hashes chan struct{}
	// dummyHash is checked for unknown emails so that they take as long as
	// wrong passwords.
	dummyHash string

	accounts *Throttle // failed logins per account
	addrs    *Throttle // failed logins and reset requests per client address
	resets   *Throttle // reset requests per account
	// registrations counts Register requests per client address.
	registrations *Throttle
	sessions      *sessionCache // per user: session version, disabled
	families      *sessionCache // per login session: Disabled means ended

	listenersMu sync.Mutex
	listeners   []func(SessionEnd)
}

// maxThrottleKeys bounds each throttle's memory.
const maxThrottleKeys = 100_000

// NewService returns a Service on store signing with keys.
func NewService(store Store, keys *Keys, opts Options) *Service {
	opts = opts.withDefaults()
	dummy, err := hashPassword(rand.Text())
	if err != nil {
		panic(fmt.Sprintf("auth: dummy hash: %v", err))
	}
	s := &Service{
		store:         store,
		opts:          opts,
		parser:        newParser(opts),
		hashes:        make(chan struct{}, opts.MaxConcurrentHashes),
		dummyHash:     dummy,
		accounts:      NewThrottle(opts.AccountFailures, opts.ThrottleWindow, maxThrottleKeys),
		addrs:         NewThrottle(opts.AddrFailures, opts.ThrottleWindow, maxThrottleKeys),
		resets:        NewThrottle(resetsPerWindow, opts.ThrottleWindow, maxThrottleKeys),
		registrations: NewThrottle(opts.RegistrationsPerAddr, opts.ThrottleWindow, maxThrottleKeys),
		sessions:      newSessionCache(opts.SessionCheckTTL, maxSessionEntries),
		families:      newSessionCache(opts.SessionCheckTTL, maxSessionEntries),
	}
	s.keys.Store(keys)
	return s
}

// ReloadKeys rereads the signing keys, so that a key added by
// "homeplane-central keys rotate" verifies here before it starts signing.
func (s *Service) ReloadKeys(ctx context.Context) error {
	stored, err := s.store.SigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("reload signing keys: %w", err)
	}
	keys, err := NewKeys(stored...)
	if err != nil {
		return fmt.Errorf("reload signing keys: %w", err)
	}
	s.keys.Store(keys)
	return nil
}

const maxEmailLen = 254

// NormalizeEmail trims and lowercases an email and checks that it is a bare address.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > maxEmailLen {
		return "", fmt.Errorf("%w: email must be 1 to %d characters", ErrInvalidInput, maxEmailLen)
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", fmt.Errorf("%w: email is not a valid address", ErrInvalidInput)
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 || strings.ContainsAny(e, " \t\r\n\"") {
		return "", fmt.Errorf("%w: email is not a valid address", ErrInvalidInput)
	}
	return e, nil
}

// withHashSlot runs fn while holding one of the bounded argon2id slots.
func (s *Service) withHashSlot(ctx context.Context, fn func()) error {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashes }()
	fn()
	return nil
}

// maxPasswordBytes rejects absurd inputs before any hashing: 128 characters
// of UTF-8 take at most 512 bytes.
const maxPasswordBytes = 4 * MaxPasswordLen

// Login checks a password and starts a session. An unknown email, a wrong
// password and a malformed email all give ErrInvalidCredentials after the
// same amount of hashing. Each attempt counts against the account and the
// client address (see WithClientAddr) before any hashing, and only one
// attempt per account and per address is checked at a time: too many
// failures, or an attempt while another is being checked, give
// ErrThrottled without any hashing.
func (s *Service) Login(ctx context.Context, email, password string) (User, Tokens, error) {
	now := s.opts.Now()
	acct := accountKey(email)
	if !s.accounts.Begin(acct, now) {
		return User{}, Tokens{}, ErrThrottled
	}
	refund := false // the attempt succeeded or was never checked
	defer func() { s.accounts.End(acct, refund) }()
	if addr, ok := ClientAddrFrom(ctx); ok {
		key := AddrKey(addr)
		if !s.addrs.Begin(key, now) {
			refund = true
			return User{}, Tokens{}, ErrThrottled
		}
		defer func() { s.addrs.End(key, refund) }()
	}
	u, ok, err := s.checkLogin(ctx, email, password)
	if err != nil {
		refund = true
		return User{}, Tokens{}, err
	}
	if !ok {
		return User{}, Tokens{}, ErrInvalidCredentials
	}
	refund = true
	s.accounts.Reset(acct)
	if u.Disabled {
		return User{}, Tokens{}, fmt.Errorf("%w: account disabled", ErrInvalidCredentials)
	}
	toks, err := s.startSession(ctx, u)
	if err != nil {
		return User{}, Tokens{}, err
	}
	return u, toks, nil
}

// checkLogin reports whether password is the one of the account email
// names, after the same hashing whether or not the account exists, and
// replaces an outdated hash. An error means no check was made.
func (s *Service) checkLogin(ctx context.Context, email, password string) (User, bool, error) {
	if len(password) > maxPasswordBytes {
		return User{}, false, nil
	}
	var (
		u    User
		phc  = s.dummyHash
		real bool
	)
	if e, err := NormalizeEmail(email); err == nil {
		got, h, err := s.store.UserByEmail(ctx, e)
		switch {
		case err == nil:
			u, phc, real = got, h, true
		case !errors.Is(err, ErrNotFound):
			return User{}, false, fmt.Errorf("login: %w", err)
		}
	}
	var ok, rehash bool
	var herr error
	if err := s.withHashSlot(ctx, func() {
		ok, rehash, herr = verifyPassword(phc, password)
		if !ok && strings.HasPrefix(phc, pbkdf2Prefix) {
			// An imported hash is cheaper than argon2id: pay the
			// difference so its failures look like everyone else's.
			_, _ = checkHash(s.dummyHash, password)
		}
	}); err != nil {
		return User{}, false, err
	}
	if herr != nil && real {
		s.opts.Logger.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "err", herr)
	}
	if !ok || !real {
		return User{}, false, nil
	}
	if rehash {
		s.rehash(ctx, u.ID, phc, password)
	}
	return u, true, nil
}

// rehash replaces an imported or outdated hash with one under today's
// parameters. A failure only costs another rehash at the next login.
func (s *Service) rehash(ctx context.Context, userID, old, password string) {
	var phc string
	var herr error
	if err := s.withHashSlot(ctx, func() { phc, herr = hashPassword(password) }); err != nil || herr != nil {
		s.opts.Logger.WarnContext(ctx, "password rehash failed", "user_id", userID, "err", errors.Join(err, herr))
		return
	}
	if err := s.store.ReplacePasswordHash(ctx, userID, old, phc); err != nil {
		s.opts.Logger.WarnContext(ctx, "password rehash not stored", "user_id", userID, "err", err)
		return
	}
	s.opts.Logger.InfoContext(ctx, "password rehashed with current parameters", "user_id", userID)
}

// accountKey is the throttle key of the email a login names, whether or not
// such an account exists.
func accountKey(email string) string {
	if e, err := NormalizeEmail(email); err == nil {
		return "acct:" + e
	}
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) > maxEmailLen {
		e = e[:maxEmailLen]
	}
	return "acct:" + e
}

// startSession issues an access token and the first refresh token of a new family.
func (s *Service) startSession(ctx context.Context, u User) (Tokens, error) {
	now := s.opts.Now().UTC()
	family, err := newUUID()
	if err != nil {
		return Tokens{}, err
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	rt := RefreshToken{
		Hash: hash, FamilyID: family, UserID: u.ID, Created: now,
		FamilyExpires: now.Add(s.opts.SessionTTL),
	}
	rt.Expires = minTime(now.Add(s.opts.RefreshTTL), rt.FamilyExpires)
	if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
		return Tokens{}, fmt.Errorf("store refresh token: %w", err)
	}
	access, accessExp, err := s.signAccess(u, family, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, AccessExpires: accessExp, Refresh: refresh, RefreshExpires: rt.Expires}, nil
}

// Refresh trades a refresh token for a new pair. The presented token is used
// up; presenting it again later revokes every token of its family.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	hash, err := refreshHash(refreshToken)
	if err != nil {
		return Tokens{}, err
	}
	now := s.opts.Now().UTC()
	next, nextHash, err := newRefreshToken()
	if err != nil {
		return Tokens{}, err
	}
	var user User
	var nextRT RefreshToken
	err = s.store.RotateRefreshToken(ctx, hash, now, func(st RefreshState) (Rotation, error) {
		switch {
		case !st.Revoked.IsZero():
			return Rotation{}, fmt.Errorf("%w: refresh token revoked", ErrInvalidToken)
		case !st.Rotated.IsZero():
			if s.opts.ReuseGrace > 0 && now.Sub(st.Rotated) <= s.opts.ReuseGrace {
				return Rotation{}, fmt.Errorf("%w: refresh token already used", ErrInvalidToken)
			}
			s.opts.Logger.WarnContext(ctx, "refresh token reused; revoking its family",
				"user_id", st.Token.UserID, "family_id", st.Token.FamilyID)
			return Rotation{RevokeFamily: true}, &ReuseError{UserID: st.Token.UserID, FamilyID: st.Token.FamilyID}
		case !now.Before(st.Token.Expires):
			return Rotation{}, fmt.Errorf("%w: refresh token expired", ErrInvalidToken)
		case st.User.Disabled:
			return Rotation{RevokeFamily: true}, fmt.Errorf("%w: account disabled", ErrInvalidToken)
		}
		user = st.User
		nextRT = RefreshToken{
			Hash: nextHash, FamilyID: st.Token.FamilyID, UserID: st.Token.UserID, Created: now,
			Expires: minTime(now.Add(s.opts.RefreshTTL), st.Token.FamilyExpires), FamilyExpires: st.Token.FamilyExpires,
		}
		return Rotation{Next: &nextRT}, nil
	})
	if errors.Is(err, ErrNotFound) {
		return Tokens{}, fmt.Errorf("%w: unknown refresh token", ErrInvalidToken)
	}
	if err != nil {
		return Tokens{}, err
	}
	access, accessExp, err := s.signAccess(user, nextRT.FamilyID, now)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, AccessExpires: accessExp, Refresh: next, RefreshExpires: nextRT.Expires}, nil
}

// Logout ends the session the refresh token belongs to, and with it the
// session's access tokens: at once on this replica, within SessionCheckTTL
// on others.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	hash, err := refreshHash(refreshToken)
	if err != nil {
		return err
	}
	family, err := s.store.RevokeRefreshFamily(ctx, hash, s.opts.Now().UTC())
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	if family != "" {
		s.families.invalidate(family)
		s.notify(SessionEnd{SessionID: family})
	}
	return nil
}

// Verify checks an access token, then that the user's sessions were not
// ended since it was issued (a password change or reset, disabling). That
// second check reads the database at most once per user per
// SessionCheckTTL.
func (s *Service) Verify(ctx context.Context, accessToken string) (Claims, error) {
	c, err := s.verifyAccess(accessToken)
	if err != nil {
		return Claims{}, err
	}
	st, err := s.sessionState(ctx, c.UserID)
	if errors.Is(err, ErrNotFound) {
		return Claims{}, fmt.Errorf("%w: unknown user", ErrInvalidToken)
	}
	if err != nil {
		return Claims{}, err
	}
	if st.Disabled || c.SessionVersion < st.Version {
		return Claims{}, fmt.Errorf("%w: session ended", ErrInvalidToken)
	}
	if c.SessionID != "" {
		live, err := s.sessionLive(ctx, c.SessionID)
		if err != nil {
			return Claims{}, err
		}
		if !live {
			return Claims{}, fmt.Errorf("%w: logged out", ErrInvalidToken)
		}
	}
	return c, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// newUUID returns a random (version 4) UUID in lowercase.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("uuid: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}
