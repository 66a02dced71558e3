package pairing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
)

// Options tunes a Service. Zero fields take the defaults shown.
type Options struct {
	TTL      time.Duration // 10 minutes: how long the codes live
	Interval time.Duration // 5 s between polls
	// SlowDown is what a too early poll adds to the interval (RFC 8628:
	// 5 s), up to MaxInterval (60 s).
	SlowDown, MaxInterval time.Duration
	// CodeAttempts wrong user codes per person and per client address are
	// allowed in each CodeWindow (10 in 15 minutes); Starts pairings per
	// client address in each StartWindow (30 in 10 minutes).
	CodeAttempts int
	CodeWindow   time.Duration
	Starts       int
	StartWindow  time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.TTL, 10*time.Minute)
	def(&o.Interval, 5*time.Second)
	def(&o.SlowDown, 5*time.Second)
	def(&o.MaxInterval, time.Minute)
	def(&o.CodeWindow, 15*time.Minute)
	def(&o.StartWindow, 10*time.Minute)
	if o.CodeAttempts <= 0 {
		o.CodeAttempts = 10
	}
	if o.Starts <= 0 {
		o.Starts = 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Service runs pairings.
type Service struct {
	store   Store
	homes   Homes
	auditor Auditor
	opts    Options
	// guesses counts wrong user codes per person and per address; starts
	// counts new pairings per address. Each replica counts its own.
	guesses, starts *auth.Throttle
}

// NewService returns a Service. Every dependency is required.
func NewService(store Store, homes Homes, auditor Auditor, opts Options) *Service {
	if store == nil || homes == nil || auditor == nil {
		panic("pairing: store, homes and auditor are required")
	}
	opts = opts.withDefaults()
	return &Service{
		store: store, homes: homes, auditor: auditor, opts: opts,
		guesses: auth.NewThrottle(opts.CodeAttempts, opts.CodeWindow, 100_000),
		starts:  auth.NewThrottle(opts.Starts, opts.StartWindow, 100_000),
	}
}

// Start opens a pairing for a device calling itself clientName.
func (s *Service) Start(ctx context.Context, clientName string) (Grant, error) {
	name, err := home.CheckName("client name", clientName, true)
	if err != nil {
		return Grant{}, err
	}
	now := s.opts.Now()
	if addr, ok := auth.ClientAddrFrom(ctx); ok {
		key := auth.AddrKey(addr)
		if !s.starts.Allowed(key, now) {
			return Grant{}, auth.ErrThrottled
		}
		s.starts.Fail(key, now) // every start counts
	}
	deviceCode, err := newDeviceCode()
	if err != nil {
		return Grant{}, err
	}
	// A clash with a pending code is one in millions; a few draws end it.
	for range 5 {
		userCode, err := newUserCode()
		if err != nil {
			return Grant{}, err
		}
		err = s.store.Create(ctx, Pairing{
			DeviceCodeHash: hash(deviceCode), UserCodeHash: hash(userCode), ClientName: name,
			Interval: s.opts.Interval, CreatedAt: now.UTC(), ExpiresAt: now.Add(s.opts.TTL).UTC(),
		}, now.Add(-time.Hour).UTC())
		if errors.Is(err, ErrCodeTaken) {
			continue
		}
		if err != nil {
			return Grant{}, fmt.Errorf("start pairing: %w", err)
		}
		return Grant{DeviceCode: deviceCode, UserCode: FormatUserCode(userCode), ExpiresIn: s.opts.TTL, Interval: s.opts.Interval}, nil
	}
	return Grant{}, fmt.Errorf("start pairing: no free user code after 5 draws")
}

// Poll answers a device's poll. With StatusApproved it returns the device
// and its token, which exist from this moment: the approval is redeemed
// once, and a later poll with the same code is ErrInvalidGrant.
func (s *Service) Poll(ctx context.Context, deviceCode string) (Polled, home.Device, string, error) {
	if !wellFormedDeviceCode(deviceCode) {
		return Polled{}, home.Device{}, "", ErrInvalidGrant
	}
	p, err := s.store.Poll(ctx, hash(deviceCode), s.opts.Now().UTC(), s.opts.SlowDown, s.opts.MaxInterval)
	if err != nil {
		if errors.Is(err, ErrInvalidGrant) {
			return Polled{}, home.Device{}, "", ErrInvalidGrant
		}
		return Polled{}, home.Device{}, "", fmt.Errorf("poll pairing: %w", err)
	}
	if p.Status != StatusApproved {
		return p, home.Device{}, "", nil
	}
	d, token, err := s.homes.RegisterDevice(ctx, p.OwnerID, p.HomeID, p.Name, p.Area)
	switch {
	case errors.Is(err, home.ErrNotFound), errors.Is(err, home.ErrInvalidInput):
		// The home went away or is full since the approval: the person
		// pairs the device again once it has room.
		s.opts.Logger.WarnContext(ctx, "approved pairing could not register its device", "home_id", p.HomeID, "err", err)
		return Polled{Status: StatusDenied, Interval: p.Interval}, home.Device{}, "", nil
	case err != nil:
		return Polled{}, home.Device{}, "", fmt.Errorf("poll pairing: %w", err)
	}
	return p, d, token, nil
}

// Approve gives the device showing userCode a token for one of the actor's
// homes, under name (empty: the name the device gave) in area.
func (s *Service) Approve(ctx context.Context, a Actor, userCode, homeID, name, area string) (string, error) {
	name, err := home.CheckName("device name", name, true)
	if err != nil {
		return "", err
	}
	if area, err = home.CheckName("area", area, true); err != nil {
		return "", err
	}
	if _, err := s.homes.Get(ctx, a.UserID, homeID); err != nil {
		if errors.Is(err, home.ErrNotFound) {
			return "", ErrNotFound
		}
		return "", fmt.Errorf("approve pairing: %w", err)
	}
	return s.decide(ctx, a, userCode, Decision{By: a.UserID, Approve: true, HomeID: homeID, Name: name, Area: area})
}

// Deny refuses the device showing userCode.
func (s *Service) Deny(ctx context.Context, a Actor, userCode string) error {
	_, err := s.decide(ctx, a, userCode, Decision{By: a.UserID})
	return err
}

// decide records a decision on a user code, counting wrong codes against
// the person and their address and auditing every attempt it checks. It
// returns the device's name.
func (s *Service) decide(ctx context.Context, a Actor, userCode string, d Decision) (string, error) {
	if !home.ValidID(a.UserID) {
		return "", ErrNotFound
	}
	now := s.opts.Now()
	keys := []string{"user:" + a.UserID}
	addr, hasAddr := auth.ClientAddrFrom(ctx)
	if hasAddr {
		keys = append(keys, auth.AddrKey(addr))
	}
	for i, k := range keys {
		if !s.guesses.Begin(k, now) {
			for _, done := range keys[:i] {
				s.guesses.End(done, true)
			}
			return "", auth.ErrThrottled
		}
	}
	ok := false
	defer func() {
		for _, k := range keys {
			s.guesses.End(k, ok)
		}
	}()

	action := "DenyPairing"
	if d.Approve {
		action = "ApprovePairing"
	}
	if a.RequestID == "" {
		a.RequestID = "pairing-" + rand.Text()
	}
	ev := audit.Event{Kind: audit.KindPairing, RequestID: a.RequestID, UserID: a.UserID, Action: action,
		Outcome: audit.OutcomeOK, Time: now}
	if hasAddr {
		ev.ClientAddr = addr
	}
	code, valid := NormalizeUserCode(userCode)
	var client, name string
	err := ErrNotFound
	if valid {
		d.At = now.UTC()
		client, name, err = s.store.Decide(ctx, hash(code), d)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		// Only a prefix of the code: enough to match what the device shows,
		// not enough to finish a guess from the log.
		ev.Outcome, ev.Error, ev.Text = audit.OutcomeDenied, "wrong user code", action+": wrong user code"
		ev.Detail = map[string]any{"user_code_prefix": prefix(code, userCode)}
	case err != nil:
		return "", fmt.Errorf("%s: %w", action, err)
	default:
		ok = true
		ev.HomeID = d.HomeID
		ev.Text = action + " " + client
		ev.Detail = map[string]any{"client_name": client, "name": name, "area": d.Area}
	}
	if aerr := s.auditor.Event(ctx, ev); aerr != nil {
		// An approval whose record did not commit still stands (the store
		// committed it); the caller learns of the failure.
		return "", fmt.Errorf("%s: audit: %w", action, aerr)
	}
	if !ok {
		return "", ErrNotFound
	}
	s.opts.Logger.InfoContext(ctx, "pairing decided", "action", action, "user_id", a.UserID, "home_id", d.HomeID)
	return name, nil
}

// prefix is the first four characters of a code, for the audit record.
func prefix(normalized, raw string) string {
	s := normalized
	if s == "" {
		s = raw
	}
	return clip(s, 4)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
