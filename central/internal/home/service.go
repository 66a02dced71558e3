package home

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options tunes a Service. Zero fields take the defaults shown.
type Options struct {
	MaxHomesPerOwner  int           // 50
	MaxDevicesPerHome int           // 100
	EnrollmentTTL     time.Duration // 1h, used when CreateEnrollmentToken gets 0
	MaxEnrollmentTTL  time.Duration // 7 days
	// CacheTTL bounds how long another replica's revocation may go unnoticed
	// here (10s); a negative value turns the credential caches off.
	CacheTTL  time.Duration
	CacheSize int // 10000 entries per cache
	// Disconnector, when set, drops an agent's live connection the moment
	// its credentials are revoked, replaced or its home deleted.
	Disconnector Disconnector
	Now          func() time.Time
	Logger       *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxHomesPerOwner <= 0 {
		o.MaxHomesPerOwner = 50
	}
	if o.MaxDevicesPerHome <= 0 {
		o.MaxDevicesPerHome = 100
	}
	if o.EnrollmentTTL <= 0 {
		o.EnrollmentTTL = time.Hour
	}
	if o.MaxEnrollmentTTL <= 0 {
		o.MaxEnrollmentTTL = 7 * 24 * time.Hour
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 10 * time.Second
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// agentCred is a cached agent credential.
type agentCred struct {
	homeID string
	hash   []byte
}

// Service manages homes, their devices and their agents.
type Service struct {
	store   Store
	opts    Options
	devices *cache[string, Device]    // by token hash
	agents  *cache[string, agentCred] // by agent id
	// dummyHash is compared against for unknown agents so that they take as
	// long as known ones.
	dummyHash []byte
	logins    *loginBatcher // nil when the store reads one agent at a time
}

// NewService returns a Service on store.
func NewService(store Store, opts Options) *Service {
	opts = opts.withDefaults()
	s := &Service{
		store:     store,
		opts:      opts,
		devices:   newCache[string, Device](opts.CacheTTL, opts.CacheSize),
		agents:    newCache[string, agentCred](opts.CacheTTL, opts.CacheSize),
		dummyHash: hashSecret("dummy"),
	}
	if b, ok := store.(AgentSecretsStore); ok {
		s.logins = newLoginBatcher(b)
	}
	return s
}

const (
	maxNameLen  = 100
	maxLabelLen = 255 // hostname and version
)

// CheckName trims a user-given name and checks its length and characters,
// as every name of a home or device is checked.
func CheckName(field, s string, allowEmpty bool) (string, error) {
	return checkName(field, s, allowEmpty)
}

func checkName(field, s string, allowEmpty bool) (string, error) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: %s must be valid UTF-8", ErrInvalidInput, field)
	}
	n := utf8.RuneCountInString(s)
	if (n == 0 && !allowEmpty) || n > maxNameLen {
		lo := 1
		if allowEmpty {
			lo = 0
		}
		return "", fmt.Errorf("%w: %s must be %d to %d characters", ErrInvalidInput, field, lo, maxNameLen)
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || Invisible(r) }) >= 0 {
		return "", fmt.Errorf("%w: %s must not contain control or invisible characters", ErrInvalidInput, field)
	}
	return s, nil
}

// Invisible reports the characters that change how text reads without
// being seen: Unicode's bidirectional embeddings, overrides, isolates and
// marks, which reorder the text around them (a dashboard or an app shows
// "Front door" while the name is another), and the zero-width space, word
// joiner, invisible operators, soft hyphen and byte order mark, which make
// two different strings look the same ("Hall" and "Hall" plus a zero-width
// space; "un⁠lock", which a search for "unlock" misses). No spoken or typed
// name needs them. The zero-width joiner and non-joiner stay allowed: some
// scripts and emoji are written with them.
func Invisible(r rune) bool {
	switch {
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r >= '\u2060' && r <= '\u2064':
		return true
	}
	switch r {
	case '\u200b', '\u200e', '\u200f', '\u061c', '\u00ad', '\u180e', '\ufeff':
		return true
	}
	return false
}

// scoped checks the ids of an owner-scoped call. A malformed home id is
// reported as not found, like any home the owner cannot see.
func scoped(ownerID, homeID string) error {
	if !ValidID(ownerID) || !ValidID(homeID) {
		return ErrNotFound
	}
	return nil
}

// Create makes a home owned by ownerID.
func (s *Service) Create(ctx context.Context, ownerID, name string) (Home, error) {
	name, err := checkName("home name", name, false)
	if err != nil {
		return Home{}, err
	}
	if !ValidID(ownerID) {
		return Home{}, fmt.Errorf("create home: %w", ErrNotFound)
	}
	id, err := newUUID()
	if err != nil {
		return Home{}, err
	}
	h, err := s.store.CreateHome(ctx, Home{ID: id, OwnerID: ownerID, Name: name, CreatedAt: s.opts.Now().UTC(), SensitivePolicy: PolicyAllow}, s.opts.MaxHomesPerOwner)
	if err != nil {
		return Home{}, fmt.Errorf("create home: %w", err)
	}
	return h, nil
}

// List returns the owner's homes, oldest first.
func (s *Service) List(ctx context.Context, ownerID string) ([]Home, error) {
	if !ValidID(ownerID) {
		return nil, nil
	}
	hs, err := s.store.ListHomes(ctx, ownerID)
	if err != nil {
		return nil, fmt.Errorf("list homes: %w", err)
	}
	return hs, nil
}

// Get returns one of the owner's homes.
func (s *Service) Get(ctx context.Context, ownerID, homeID string) (Home, error) {
	if err := scoped(ownerID, homeID); err != nil {
		return Home{}, fmt.Errorf("get home: %w", err)
	}
	h, err := s.store.GetHome(ctx, ownerID, homeID)
	if err != nil {
		return Home{}, fmt.Errorf("get home: %w", err)
	}
	return h, nil
}

// SetSensitivePolicy chooses what the voice devices of one of the owner's
// homes may do with sensitive actions, and returns the home.
func (s *Service) SetSensitivePolicy(ctx context.Context, ownerID, homeID string, p Policy) (Home, error) {
	if !p.Valid() {
		return Home{}, fmt.Errorf("%w: sensitive policy must be allow, confirm or deny", ErrInvalidInput)
	}
	if err := scoped(ownerID, homeID); err != nil {
		return Home{}, fmt.Errorf("set sensitive policy: %w", err)
	}
	if err := s.store.SetSensitivePolicy(ctx, ownerID, homeID, p); err != nil {
		return Home{}, fmt.Errorf("set sensitive policy: %w", err)
	}
	return s.Get(ctx, ownerID, homeID)
}

// Delete removes one of the owner's homes with its devices, agent and tokens.
func (s *Service) Delete(ctx context.Context, ownerID, homeID string) error {
	if err := scoped(ownerID, homeID); err != nil {
		return fmt.Errorf("delete home: %w", err)
	}
	if err := s.store.DeleteHome(ctx, ownerID, homeID); err != nil {
		return fmt.Errorf("delete home: %w", err)
	}
	s.devices.deleteIf(func(_ string, d Device) bool { return d.HomeID == homeID })
	s.agents.deleteIf(func(_ string, a agentCred) bool { return a.homeID == homeID })
	if d := s.opts.Disconnector; d != nil {
		d.DisconnectHome(homeID)
	}
	return nil
}

// CreateEnrollmentToken issues a one-time token an agent trades for its
// credentials. ttl 0 means the default (1h); more than the maximum (7 days)
// is refused.
func (s *Service) CreateEnrollmentToken(ctx context.Context, ownerID, homeID string, ttl time.Duration) (string, time.Time, error) {
	if ttl == 0 {
		ttl = s.opts.EnrollmentTTL
	}
	if ttl < time.Minute || ttl > s.opts.MaxEnrollmentTTL {
		return "", time.Time{}, fmt.Errorf("%w: enrollment token lifetime must be 1m to %s", ErrInvalidInput, s.opts.MaxEnrollmentTTL)
	}
	if err := scoped(ownerID, homeID); err != nil {
		return "", time.Time{}, fmt.Errorf("create enrollment token: %w", err)
	}
	tok, hash, err := newSecret(enrollmentPrefix)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.opts.Now().UTC()
	expires := now.Add(ttl)
	if err := s.store.CreateEnrollmentToken(ctx, ownerID, homeID, hash, now, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("create enrollment token: %w", err)
	}
	return tok, expires, nil
}

// Enroll trades an enrollment token for a new agent identity and its secret,
// which is shown only here. Each token works once; enrolling a home again
// replaces its agent, whose old credentials stop working.
func (s *Service) Enroll(ctx context.Context, token, hostname, version string) (Agent, string, error) {
	if !wellFormed(token, enrollmentPrefix) {
		return Agent{}, "", fmt.Errorf("enroll: %w", ErrUnauthenticated)
	}
	if len(hostname) > maxLabelLen || len(version) > maxLabelLen || !utf8.ValidString(hostname) || !utf8.ValidString(version) {
		return Agent{}, "", fmt.Errorf("%w: hostname and version must be valid UTF-8 of at most %d bytes", ErrInvalidInput, maxLabelLen)
	}
	id, err := newUUID()
	if err != nil {
		return Agent{}, "", err
	}
	secret, hash, err := newSecret(agentPrefix)
	if err != nil {
		return Agent{}, "", err
	}
	now := s.opts.Now().UTC()
	homeID, replaced, err := s.store.Enroll(ctx, hashSecret(token), now, AgentRecord{
		ID: id, SecretHash: hash, Hostname: hostname, Version: version, EnrolledAt: now,
	})
	if err != nil {
		return Agent{}, "", fmt.Errorf("enroll: %w", err)
	}
	if len(replaced) > 0 {
		s.agents.deleteIf(func(_ string, a agentCred) bool { return a.homeID == homeID })
		if d := s.opts.Disconnector; d != nil {
			for _, old := range replaced {
				d.Disconnect(old)
			}
		}
		s.opts.Logger.InfoContext(ctx, "agent re-enrolled; old credentials revoked", "home_id", homeID, "agent_id", id)
	}
	return Agent{ID: id, HomeID: homeID}, secret, nil
}

// AuthenticateAgent checks an agent's MQTT credentials and returns its home.
func (s *Service) AuthenticateAgent(ctx context.Context, agentID, secret string) (string, error) {
	got := hashSecret(secret)
	if !ValidID(agentID) || len(secret) > 2*secretBodyLen {
		subtle.ConstantTimeCompare(got, s.dummyHash)
		return "", ErrUnauthenticated
	}
	now := s.opts.Now()
	cred, ok := s.agents.get(agentID, now)
	if !ok {
		gen := s.agents.generation()
		homeID, hash, err := s.agentSecret(ctx, agentID)
		switch {
		case errors.Is(err, ErrNotFound):
			subtle.ConstantTimeCompare(got, s.dummyHash)
			return "", ErrUnauthenticated
		case err != nil:
			return "", fmt.Errorf("authenticate agent: %w", err)
		}
		cred = agentCred{homeID: homeID, hash: hash}
		s.agents.put(agentID, cred, now, gen)
	}
	if subtle.ConstantTimeCompare(got, cred.hash) != 1 {
		return "", ErrUnauthenticated
	}
	return cred.homeID, nil
}

// agentSecret reads one agent's secret, in a batch with the other agents
// logging in at the same time when the store can.
func (s *Service) agentSecret(ctx context.Context, agentID string) (string, []byte, error) {
	if s.logins == nil {
		return s.store.AgentSecret(ctx, agentID)
	}
	sec, found, err := s.logins.lookup(ctx, agentID)
	switch {
	case err != nil:
		return "", nil, err
	case !found:
		return "", nil, ErrNotFound
	}
	return sec.HomeID, sec.Hash, nil
}

// RegisterDevice adds a voice device to one of the owner's homes and returns
// its token, which is shown only here.
func (s *Service) RegisterDevice(ctx context.Context, ownerID, homeID, name, area string) (Device, string, error) {
	name, err := checkName("device name", name, false)
	if err != nil {
		return Device{}, "", err
	}
	area, err = checkName("area", area, true)
	if err != nil {
		return Device{}, "", err
	}
	if err := scoped(ownerID, homeID); err != nil {
		return Device{}, "", fmt.Errorf("register device: %w", err)
	}
	id, err := newUUID()
	if err != nil {
		return Device{}, "", err
	}
	tok, hash, err := newSecret(devicePrefix)
	if err != nil {
		return Device{}, "", err
	}
	d := Device{ID: id, HomeID: homeID, Name: name, Area: area, CreatedAt: s.opts.Now().UTC()}
	d, err = s.store.CreateDevice(ctx, ownerID, d, hash, s.opts.MaxDevicesPerHome)
	if err != nil {
		return Device{}, "", fmt.Errorf("register device: %w", err)
	}
	return d, tok, nil
}

// ListDevices returns the devices of one of the owner's homes, revoked ones included.
func (s *Service) ListDevices(ctx context.Context, ownerID, homeID string) ([]Device, error) {
	if err := scoped(ownerID, homeID); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	ds, err := s.store.ListDevices(ctx, ownerID, homeID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return ds, nil
}

// RevokeDevice makes a device's token stop working at once in this process
// (and within CacheTTL in others). Revoking twice is not an error.
func (s *Service) RevokeDevice(ctx context.Context, ownerID, homeID, deviceID string) error {
	if err := scoped(ownerID, homeID); err != nil || !ValidID(deviceID) {
		return fmt.Errorf("revoke device: %w", ErrNotFound)
	}
	if err := s.store.RevokeDevice(ctx, ownerID, homeID, deviceID, s.opts.Now().UTC()); err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	s.devices.deleteIf(func(_ string, d Device) bool { return d.ID == deviceID })
	return nil
}

// AuthenticateDevice returns the active device a token belongs to.
func (s *Service) AuthenticateDevice(ctx context.Context, token string) (Device, error) {
	if !wellFormed(token, devicePrefix) {
		return Device{}, ErrUnauthenticated
	}
	hash := hashSecret(token)
	key := string(hash)
	now := s.opts.Now()
	if d, ok := s.devices.get(key, now); ok {
		return d, nil
	}
	gen := s.devices.generation()
	d, err := s.store.DeviceByToken(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return Device{}, ErrUnauthenticated
	case err != nil:
		return Device{}, fmt.Errorf("authenticate device: %w", err)
	}
	s.devices.put(key, d, now, gen)
	return d, nil
}
