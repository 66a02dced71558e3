// Package rpctest provides in-memory fakes of the services the rpc package
// depends on, so rpc and its clients (homectl) can be tested end to end
// through a real HTTP server without a database.
package rpctest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
	"github.com/homeplane/homeplane/central/internal/pack"
	"github.com/homeplane/homeplane/central/internal/registry"
)

// Accounts knows users by email. Every login and refresh issues fresh
// tokens; a refresh token works once (it rotates; presenting it again is a
// reuse, as auth.Service reports it), and Logout or Expire end a
// token. Each user also has a stable access token, AccessToken(user).
type Accounts struct {
	mu      sync.Mutex
	users   map[string]auth.User // by email
	byID    map[string]auth.User
	pass    map[string]string    // by email
	access  map[string]string    // token → user id
	refresh map[string]string    // token → user id
	used    map[string]string    // rotated refresh token → user id
	resets  map[string]string    // reset token → user id
	pending map[string][2]string // registration token → email, password
	next    int
}

// NewAccounts returns Accounts without users.
func NewAccounts() *Accounts {
	return &Accounts{
		users: map[string]auth.User{}, byID: map[string]auth.User{}, pass: map[string]string{},
		access: map[string]string{}, refresh: map[string]string{}, used: map[string]string{},
	}
}

// AddUser adds an account directly.
func (f *Accounts) AddUser(email, password, role string) auth.User {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addUser(email, password, role)
}

func (f *Accounts) addUser(email, password, role string) auth.User {
	f.next++
	u := auth.User{ID: fmt.Sprintf("user-%d", f.next), Email: email, Role: role, CreatedAt: time.Unix(1700000000, 0)}
	f.users[email], f.byID[u.ID], f.pass[email] = u, u, password
	f.access[AccessToken(u)] = u.ID
	return u
}

// AccessToken is a stable access token of u.
func AccessToken(u auth.User) string { return "access-" + u.ID }

// Expire makes Accounts refuse an access or refresh token from now on.
func (f *Accounts) Expire(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.access, token)
	delete(f.refresh, token)
}

// issue hands out fresh tokens to u; f.mu is held.
func (f *Accounts) issue(u auth.User) auth.Tokens {
	f.next++
	now := time.Now()
	t := auth.Tokens{
		Access: fmt.Sprintf("access-%s-%d", u.ID, f.next), AccessExpires: now.Add(15 * time.Minute),
		Refresh: fmt.Sprintf("refresh-%s-%d", u.ID, f.next), RefreshExpires: now.Add(30 * 24 * time.Hour),
	}
	f.access[t.Access], f.refresh[t.Refresh] = u.ID, u.ID
	return t
}

// Register implements rpc.Accounts: a new address gets a pending
// registration whose token Confirmations hands out; a registered one
// nothing, answered alike.
func (f *Accounts) Register(_ context.Context, email, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(password) < 8 {
		return fmt.Errorf("%w: password shorter than 8 characters", auth.ErrInvalidInput)
	}
	if _, taken := f.users[email]; taken {
		return nil
	}
	if f.pending == nil {
		f.pending = map[string][2]string{}
	}
	f.next++
	f.pending[fmt.Sprintf("confirm-%d", f.next)] = [2]string{email, password}
	return nil
}

// Confirmation returns the token of email's pending registration, or "".
func (f *Accounts) Confirmation(email string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok, p := range f.pending {
		if p[0] == email {
			return tok
		}
	}
	return ""
}

// ConfirmRegistration implements rpc.Accounts.
func (f *Accounts) ConfirmRegistration(_ context.Context, token string) (auth.User, auth.Tokens, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.pending[token]
	if !ok {
		return auth.User{}, auth.Tokens{}, fmt.Errorf("%w: unknown registration token", auth.ErrInvalidToken)
	}
	delete(f.pending, token)
	if _, taken := f.users[p[0]]; taken {
		return auth.User{}, auth.Tokens{}, fmt.Errorf("%w: unknown registration token", auth.ErrInvalidToken)
	}
	u := f.addUser(p[0], p[1], auth.RoleUser)
	return u, f.issue(u), nil
}

// Login implements rpc.Accounts.
func (f *Accounts) Login(_ context.Context, email, password string) (auth.User, auth.Tokens, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[email]
	if !ok || f.pass[email] != password {
		return auth.User{}, auth.Tokens{}, fmt.Errorf("login: %w", auth.ErrInvalidCredentials)
	}
	return u, f.issue(u), nil
}

// Refresh implements rpc.Accounts.
func (f *Accounts) Refresh(_ context.Context, refreshToken string) (auth.Tokens, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.used[refreshToken]; ok {
		return auth.Tokens{}, &auth.ReuseError{UserID: id, FamilyID: "family-" + id}
	}
	id, ok := f.refresh[refreshToken]
	if !ok {
		return auth.Tokens{}, fmt.Errorf("refresh: %w", auth.ErrInvalidToken)
	}
	delete(f.refresh, refreshToken)
	f.used[refreshToken] = id
	return f.issue(f.byID[id]), nil
}

// Logout implements rpc.Accounts.
func (f *Accounts) Logout(_ context.Context, refreshToken string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.refresh[refreshToken]; !ok {
		return fmt.Errorf("logout: %w", auth.ErrInvalidToken)
	}
	delete(f.refresh, refreshToken)
	return nil
}

// Verify implements rpc.Accounts.
func (f *Accounts) Verify(_ context.Context, accessToken string) (auth.Claims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.access[accessToken]
	if !ok {
		return auth.Claims{}, fmt.Errorf("verify: %w", auth.ErrInvalidToken)
	}
	u := f.byID[id]
	return auth.Claims{UserID: u.ID, Role: u.Role, Expires: time.Now().Add(time.Minute)}, nil
}

// ChangePassword implements rpc.Accounts: every token of the user stops working.
func (f *Accounts) ChangePassword(_ context.Context, userID, current, next string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.byID[userID]
	if !ok {
		return fmt.Errorf("change password: %w", auth.ErrInvalidToken)
	}
	if f.pass[u.Email] != current {
		return fmt.Errorf("%w: current password is wrong", auth.ErrInvalidInput)
	}
	if len(next) < 8 {
		return fmt.Errorf("%w: password shorter than 8 characters", auth.ErrInvalidInput)
	}
	f.pass[u.Email] = next
	f.endSessions(userID)
	return nil
}

// endSessions drops every token of the user; f.mu is held.
func (f *Accounts) endSessions(userID string) {
	for tok, id := range f.access {
		if id == userID {
			delete(f.access, tok)
		}
	}
	for tok, id := range f.refresh {
		if id == userID {
			delete(f.refresh, tok)
		}
	}
}

// RequestPasswordReset implements rpc.Accounts; the token of a known user
// is kept for ResetToken.
func (f *Accounts) RequestPasswordReset(_ context.Context, email string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if u, ok := f.users[email]; ok {
		if f.resets == nil {
			f.resets = map[string]string{}
		}
		f.next++
		f.resets[fmt.Sprintf("reset-%d", f.next)] = u.ID
	}
	return nil
}

// ResetTokens returns the outstanding reset tokens, token → user id.
func (f *Accounts) ResetTokens() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.resets {
		out[k] = v
	}
	return out
}

// ResetPassword implements rpc.Accounts.
func (f *Accounts) ResetPassword(_ context.Context, token, next string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.resets[token]
	if !ok {
		return fmt.Errorf("reset password: %w", auth.ErrInvalidToken)
	}
	delete(f.resets, token)
	f.pass[f.byID[id].Email] = next
	f.endSessions(id)
	return nil
}

// Homes scopes everything by owner like the real service: someone else's
// home is home.ErrNotFound. A non-nil fail is returned by every call.
type Homes struct {
	mu      sync.Mutex
	homes   map[string]home.Home
	devices map[string]home.Device // by token
	enroll  map[string]string      // token → home id
	fail    error
	next    int
}

// SetFail makes every call fail with err (nil restores).
func (f *Homes) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// NewHomes returns an empty Homes.
func NewHomes() *Homes {
	return &Homes{homes: map[string]home.Home{}, devices: map[string]home.Device{}, enroll: map[string]string{}}
}

func (f *Homes) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s-%d", prefix, f.next)
}

func (f *Homes) owned(ownerID, homeID string) (home.Home, error) {
	h, ok := f.homes[homeID]
	if !ok || h.OwnerID != ownerID {
		return home.Home{}, fmt.Errorf("home %s: %w", homeID, home.ErrNotFound)
	}
	return h, nil
}

// Create implements rpc.Homes.
func (f *Homes) Create(_ context.Context, ownerID, name string) (home.Home, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return home.Home{}, f.fail
	}
	h := home.Home{ID: f.id("home"), OwnerID: ownerID, Name: name, CreatedAt: time.Unix(1700000000, 0)}
	f.homes[h.ID] = h
	return h, nil
}

// List implements rpc.Homes.
func (f *Homes) List(_ context.Context, ownerID string) ([]home.Home, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	var out []home.Home
	for _, h := range f.homes {
		if h.OwnerID == ownerID {
			out = append(out, h)
		}
	}
	return out, nil
}

// Get implements rpc.Homes.
func (f *Homes) Get(_ context.Context, ownerID, homeID string) (home.Home, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return home.Home{}, f.fail
	}
	return f.owned(ownerID, homeID)
}

// Delete implements rpc.Homes.
func (f *Homes) Delete(_ context.Context, ownerID, homeID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return err
	}
	delete(f.homes, homeID)
	return nil
}

// CreateEnrollmentToken implements rpc.Homes.
func (f *Homes) CreateEnrollmentToken(_ context.Context, ownerID, homeID string, ttl time.Duration) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", time.Time{}, f.fail
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	if ttl > 7*24*time.Hour {
		return "", time.Time{}, fmt.Errorf("%w: enrollment token lifetime must be 1m to 168h", home.ErrInvalidInput)
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return "", time.Time{}, err
	}
	token := "hpe_" + f.id("enroll")
	f.enroll[token] = homeID
	return token, time.Now().Add(ttl), nil
}

// Enroll implements rpc.Homes.
func (f *Homes) Enroll(_ context.Context, token, _, _ string) (home.Agent, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return home.Agent{}, "", f.fail
	}
	homeID, ok := f.enroll[token]
	if !ok {
		return home.Agent{}, "", fmt.Errorf("enroll: %w", home.ErrUnauthenticated)
	}
	delete(f.enroll, token)
	h := f.homes[homeID]
	h.Enrolled = true
	f.homes[homeID] = h
	return home.Agent{ID: f.id("agent"), HomeID: homeID}, "mqtt-secret", nil
}

// RegisterDevice implements rpc.Homes.
func (f *Homes) RegisterDevice(_ context.Context, ownerID, homeID, name, area string) (home.Device, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return home.Device{}, "", f.fail
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return home.Device{}, "", err
	}
	d := home.Device{ID: f.id("device"), HomeID: homeID, Name: name, Area: area, CreatedAt: time.Unix(1700000000, 0)}
	token := "hpd_" + d.ID
	f.devices[token] = d
	return d, token, nil
}

// ListDevices implements rpc.Homes.
func (f *Homes) ListDevices(_ context.Context, ownerID, homeID string) ([]home.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return nil, err
	}
	var out []home.Device
	for _, d := range f.devices {
		if d.HomeID == homeID {
			out = append(out, d)
		}
	}
	return out, nil
}

// RevokeDevice implements rpc.Homes.
func (f *Homes) RevokeDevice(_ context.Context, ownerID, homeID, deviceID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return err
	}
	for tok, d := range f.devices {
		if d.ID == deviceID && d.HomeID == homeID {
			d.Revoked = true
			f.devices[tok] = d
			return nil
		}
	}
	return fmt.Errorf("device %s: %w", deviceID, home.ErrNotFound)
}

// AuthenticateDevice implements rpc.Homes.
func (f *Homes) AuthenticateDevice(_ context.Context, token string) (home.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[token]
	if !ok {
		return home.Device{}, fmt.Errorf("device token: %w", home.ErrUnauthenticated)
	}
	// Revoked devices come back as such; rpc must refuse them itself too.
	return d, nil
}

// Entities answers one entity per home.
type Entities struct{}

// Snapshot answers one kitchen light, packed as the registry caches it.
func (Entities) Snapshot(_ context.Context, homeID string) (*registry.Snapshot, error) {
	es := []*homeplanev1.Entity{KitchenLight(homeID)}
	pack.Entities(es)
	return &registry.Snapshot{Entities: es}, nil
}

// KitchenLight is the entity Entities answers for a home, unpacked.
func KitchenLight(homeID string) *homeplanev1.Entity {
	return &homeplanev1.Entity{
		EntityId: "light.kitchen", Name: "Kitchen Light " + homeID, Domain: "light", AreaId: "kitchen", State: "off",
		Attributes: &structpb.Struct{Fields: map[string]*structpb.Value{
			"brightness":            structpb.NewNumberValue(180),
			"supported_color_modes": structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("brightness")}}),
		}},
		LastChanged: timestamppb.New(time.Date(2026, 12, 7, 3, 4, 5, 120_000_000, time.UTC)),
	}
}

// LightsOn is a successful answer to "turn on the kitchen lights".
func LightsOn() intent.Response {
	return intent.Response{
		Speech:  "Turned on the lights",
		Intent:  intent.Intent{Name: "HassTurnOn", Slots: map[string]any{"area": "Kitchen", "brightness": 30, "domain": "light"}},
		Targets: []intent.Target{{EntityID: "light.kitchen", Name: "Kitchen Light", Area: "kitchen", Domain: "light", State: "on"}},
		Success: true,
		Executed: []*homeplanev1.ServiceCall{{
			Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen"},
			Data: &structpb.Struct{Fields: map[string]*structpb.Value{"brightness_pct": structpb.NewNumberValue(30)}},
		}},
		Result: &homeplanev1.Result{Ok: true},
		Parser: "rules",
	}
}

// Intents records the requests it gets and answers resp, err.
type Intents struct {
	mu     sync.Mutex
	reqs   []intent.Request
	resp   intent.Response
	err    error
	stored chan struct{}
}

// Process records req and answers what Answer set, continuing the
// request's conversation or starting one as the engine does. After
// HoldTurns it stores a conversation turn as the engine does, one that
// takes until the channel is closed.
func (f *Intents) Process(ctx context.Context, req intent.Request) (intent.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	resp, err, stored := f.resp, f.err, f.stored
	if resp.ConversationID == "" {
		resp.ConversationID = req.ConversationID
	}
	if resp.ConversationID == "" {
		resp.ConversationID = fmt.Sprintf("conversation-%d", len(f.reqs))
	}
	f.mu.Unlock()
	if stored != nil {
		if wait := func() { <-stored }; !intent.HandTurnWait(ctx, wait) {
			wait()
		}
	}
	return resp, err
}

// HoldTurns makes every later Process store a turn that is stored once
// stored is closed.
func (f *Intents) HoldTurns(stored chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored = stored
}

// Answer sets what Process answers from now on.
func (f *Intents) Answer(resp intent.Response, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp, f.err = resp, err
}

// Requests returns the requests seen so far.
func (f *Intents) Requests() []intent.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]intent.Request(nil), f.reqs...)
}

// Auditor records what it is asked to write; a non-nil fail refuses.
type Auditor struct {
	mu   sync.Mutex
	recs []audit.Record
	fail error
}

// Write records r unless SetFail made it fail.
func (f *Auditor) Write(_ context.Context, r audit.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.recs = append(f.recs, r)
	return nil
}

// SetFail makes Write fail with err (nil restores).
func (f *Auditor) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

// Records returns the records written so far.
func (f *Auditor) Records() []audit.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]audit.Record(nil), f.recs...)
}

// Presence reports the homes in OnlineSince as online, last seen then.
type Presence struct{ OnlineSince map[string]time.Time }

// Online reports whether homeID is listed.
func (f Presence) Online(homeID string) bool {
	_, ok := f.OnlineSince[homeID]
	return ok
}

// LastSeen is the time listed for homeID.
func (f Presence) LastSeen(homeID string) (time.Time, bool) {
	t, ok := f.OnlineSince[homeID]
	return t, ok
}

// RevokeAgent implements rpc.Homes.
func (f *Homes) RevokeAgent(_ context.Context, ownerID, homeID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	h, err := f.owned(ownerID, homeID)
	if err != nil {
		return err
	}
	h.Enrolled = false
	f.homes[homeID] = h
	return nil
}

// RevokeEnrollmentTokens implements rpc.Homes.
func (f *Homes) RevokeEnrollmentTokens(_ context.Context, ownerID, homeID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	if _, err := f.owned(ownerID, homeID); err != nil {
		return 0, err
	}
	n := 0
	for tok, id := range f.enroll {
		if id == homeID {
			delete(f.enroll, tok)
			n++
		}
	}
	return n, nil
}

// Pipelines is a hand-written rpc.Pipelines; a home without a choice uses
// rules, as central's store does.
type Pipelines struct {
	mu sync.Mutex
	m  map[string]intent.Pipeline
}

// Pipeline implements rpc.Pipelines.
func (p *Pipelines) Pipeline(_ context.Context, homeID string) (intent.Pipeline, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if got, ok := p.m[homeID]; ok {
		return got, nil
	}
	return intent.PipelineRules, nil
}

// SetPipeline implements rpc.Pipelines.
func (p *Pipelines) SetPipeline(_ context.Context, homeID string, pl intent.Pipeline) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]intent.Pipeline{}
	}
	p.m[homeID] = pl
	return nil
}

// SetSensitivePolicy implements rpc.Homes.
func (f *Homes) SetSensitivePolicy(_ context.Context, ownerID, homeID string, p home.Policy) (home.Home, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return home.Home{}, f.fail
	}
	h, err := f.owned(ownerID, homeID)
	if err != nil {
		return home.Home{}, err
	}
	h.SensitivePolicy = p
	f.homes[homeID] = h
	return h, nil
}
