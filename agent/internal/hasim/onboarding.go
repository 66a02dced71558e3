package hasim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Token types as core's auth models name them.
const (
	tokenNormal    = "normal"
	tokenLongLived = "long_lived_access_token"
	// accessTokenLife is core's ACCESS_TOKEN_EXPIRATION.
	accessTokenLife = 30 * time.Minute
	adminGroup      = "system-admin"
)

// authUser is a user of .storage/auth.
type authUser struct {
	ID              string   `json:"id"`
	GroupIDs        []string `json:"group_ids"`
	IsOwner         bool     `json:"is_owner"`
	IsActive        bool     `json:"is_active"`
	Name            string   `json:"name"`
	SystemGenerated bool     `json:"system_generated"`
	LocalOnly       bool     `json:"local_only"`
}

// authCredential links a user to a username of the homeassistant provider.
type authCredential struct {
	ID               string            `json:"id"`
	UserID           string            `json:"user_id"`
	AuthProviderType string            `json:"auth_provider_type"`
	AuthProviderID   *string           `json:"auth_provider_id"`
	Data             map[string]string `json:"data"`
}

// refreshToken is core's RefreshToken as the auth store saves it. Access
// tokens are JWTs (HS256) whose issuer is the refresh token's id, signed with
// its jwt_key; a long-lived access token is such a JWT too, with the
// refresh token's long expiration.
type refreshToken struct {
	ID                    string  `json:"id"`
	UserID                string  `json:"user_id"`
	ClientID              *string `json:"client_id"`
	ClientName            *string `json:"client_name"`
	ClientIcon            *string `json:"client_icon"`
	TokenType             string  `json:"token_type"`
	CreatedAt             string  `json:"created_at"`
	AccessTokenExpiration float64 `json:"access_token_expiration"`
	Token                 string  `json:"token"`
	JWTKey                string  `json:"jwt_key"`
	LastUsedAt            *string `json:"last_used_at"`
	LastUsedIP            *string `json:"last_used_ip"`
	CredentialID          *string `json:"credential_id"`
	Version               string  `json:"version"`
}

type authGroup struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// authData is .storage/auth.
type authData struct {
	Users         []authUser       `json:"users"`
	Groups        []authGroup      `json:"groups"`
	Credentials   []authCredential `json:"credentials"`
	RefreshTokens []refreshToken   `json:"refresh_tokens"`
}

// onboarding is a fresh instance's first-run flow and the auth store behind
// it: create the owner user, trade the auth code for tokens, then mint
// long-lived tokens over the WebSocket API. With a config directory both
// live in .storage and survive restarts.
type onboarding struct {
	mu    sync.Mutex
	done  []string          // onboarding steps done
	codes map[string]string // auth codes not yet exchanged → user id
	auth  authData
}

func (o *onboarding) userDone() bool { return slices.Contains(o.done, "user") }

// load reads the stored onboarding progress and auth store.
func (o *onboarding) load(dir string) error {
	var onb onboardingData
	if _, err := readStorage(dir, keyOnboarding, &onb); err != nil {
		return err
	}
	if _, err := readStorage(dir, keyAuth, &o.auth); err != nil {
		return err
	}
	o.done = onb.Done
	return nil
}

// saveLocked writes both files; o.mu is held.
func (o *onboarding) saveLocked(dir string) error {
	if dir == "" {
		return nil
	}
	if err := writeStorage(dir, keyAuth, versionAuth, o.auth); err != nil {
		return err
	}
	return writeStorage(dir, keyOnboarding, versionOnboarding, onboardingData{Done: o.done})
}

// getOnboarding answers GET /api/onboarding: the steps and whether each is done.
func (s *Server) getOnboarding(w http.ResponseWriter, _ *http.Request) {
	all := !s.opts.Fresh
	s.onb.mu.Lock()
	steps := []map[string]any{}
	for _, st := range []string{"user", "core_config", "analytics", "integration"} {
		steps = append(steps, map[string]any{"step": st, "done": all || slices.Contains(s.onb.done, st)})
	}
	s.onb.mu.Unlock()
	writeJSON(w, http.StatusOK, steps)
}

// postOnboardingUser answers POST /api/onboarding/users with an auth code.
func (s *Server) postOnboardingUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID string `json:"client_id"`
		Name     string `json:"name"`
		Username string `json:"username"`
		Password string `json:"password"`
		Language string `json:"language"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, message("Invalid JSON."))
		return
	}
	if req.ClientID == "" || req.Name == "" || req.Username == "" || req.Password == "" || req.Language == "" {
		writeJSON(w, http.StatusBadRequest, message("Message format incorrect: required key not provided"))
		return
	}
	o := &s.onb
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.userDone() || !s.opts.Fresh {
		writeJSON(w, http.StatusForbidden, message("User step already done"))
		return
	}
	user := authUser{ID: randomHex(16), GroupIDs: []string{adminGroup}, IsOwner: true, IsActive: true, Name: req.Name}
	o.auth.Groups = []authGroup{{ID: adminGroup, Name: "Administrators"}, {ID: "system-users", Name: "Users"}, {ID: "system-read-only", Name: "Read Only"}}
	o.auth.Users = append(o.auth.Users, user)
	o.auth.Credentials = append(o.auth.Credentials, authCredential{ID: randomHex(16), UserID: user.ID,
		AuthProviderType: "homeassistant", Data: map[string]string{"username": strings.ToLower(strings.TrimSpace(req.Username))}})
	o.done = append(o.done, "user")
	if err := o.saveLocked(s.opts.ConfigDir); err != nil {
		s.log.Error("onboarding not saved", "error", err)
		plain(w, http.StatusInternalServerError)
		return
	}
	if o.codes == nil {
		o.codes = map[string]string{}
	}
	code := randomHex(16)
	o.codes[code] = user.ID
	writeJSON(w, http.StatusOK, map[string]string{"auth_code": code})
}

// postToken answers POST /auth/token for grant_type=authorization_code.
func (s *Server) postToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	code, clientID := r.PostForm.Get("code"), r.PostForm.Get("client_id")
	o := &s.onb
	o.mu.Lock()
	defer o.mu.Unlock()
	userID, ok := o.codes[code]
	delete(o.codes, code)
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid code"})
		return
	}
	rt, err := s.issueLocked(userID, &clientID, nil, tokenNormal, accessTokenLife)
	if err != nil {
		plain(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": s.accessToken(rt), "token_type": "Bearer",
		"refresh_token": rt.Token, "expires_in": int(accessTokenLife.Seconds()),
	})
}

// issueLocked creates a refresh token and saves the auth store; o.mu is held.
func (s *Server) issueLocked(userID string, clientID, clientName *string, kind string, life time.Duration) (refreshToken, error) {
	rt := refreshToken{
		ID: randomHex(16), UserID: userID, ClientID: clientID, ClientName: clientName, TokenType: kind,
		CreatedAt: isoTime(s.now()), AccessTokenExpiration: life.Seconds(),
		Token: randomHex(64), JWTKey: randomHex(64), Version: s.opts.Version,
	}
	s.onb.auth.RefreshTokens = append(s.onb.auth.RefreshTokens, rt)
	if err := s.onb.saveLocked(s.opts.ConfigDir); err != nil {
		s.onb.auth.RefreshTokens = s.onb.auth.RefreshTokens[:len(s.onb.auth.RefreshTokens)-1]
		s.log.Error("token not saved", "error", err)
		return refreshToken{}, err
	}
	return rt, nil
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// accessToken signs an access token for rt, as core's
// async_create_access_token does: {"iss": id, "iat": now, "exp": now+life}.
func (s *Server) accessToken(rt refreshToken) string {
	now := s.now().Unix()
	claims, _ := json.Marshal(map[string]any{"iss": rt.ID, "iat": now, "exp": now + int64(rt.AccessTokenExpiration)})
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(claims)
	return signing + "." + jwtSignature(signing, rt.JWTKey)
}

func jwtSignature(signing, key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validAccessToken checks a JWT against the refresh token it names: the
// signature with that token's key, the expiry, and that the token and its
// user still exist and are active.
func (s *Server) validAccessToken(token string) bool {
	head, rest, ok := strings.Cut(token, ".")
	if !ok || head != jwtHeader {
		return false
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return false
	}
	var claims struct {
		Iss string `json:"iss"`
		Exp int64  `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Iss == "" || s.now().Unix() >= claims.Exp {
		return false
	}
	s.onb.mu.Lock()
	defer s.onb.mu.Unlock()
	for _, rt := range s.onb.auth.RefreshTokens {
		if rt.ID != claims.Iss {
			continue
		}
		want := jwtSignature(head+"."+payload, rt.JWTKey)
		if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
			return false
		}
		i := slices.IndexFunc(s.onb.auth.Users, func(u authUser) bool { return u.ID == rt.UserID })
		return i >= 0 && s.onb.auth.Users[i].IsActive
	}
	return false
}

// ownerLocked returns the owner's user id. An instance started with a fixed
// token was onboarded before the simulator knew it: its owner is created on
// first need. s.onb.mu is held.
func (s *Server) ownerLocked() string {
	for _, u := range s.onb.auth.Users {
		if u.IsOwner {
			return u.ID
		}
	}
	s.onb.auth.Users = append(s.onb.auth.Users, authUser{ID: s.userID, GroupIDs: []string{adminGroup}, IsOwner: true, IsActive: true, Name: "Owner"})
	return s.userID
}

// longLivedToken answers WebSocket auth/long_lived_access_token. The token
// belongs to the owner: the simulator has no other users.
func (c *wsConn) longLivedToken(id int64, msg map[string]any) {
	name, _ := msg["client_name"].(string)
	if name == "" {
		c.send(errorMsg(id, "invalid_format", "required key not provided @ data['client_name']"))
		return
	}
	days, ok := number(msg["lifespan"])
	if !ok {
		days = 3650
	}
	o := &c.s.onb
	o.mu.Lock()
	rt, err := c.s.issueLocked(c.s.ownerLocked(), nil, &name, tokenLongLived, time.Duration(days*24*float64(time.Hour)))
	o.mu.Unlock()
	if err != nil {
		c.send(errorMsg(id, "unknown_error", "Unknown error"))
		return
	}
	c.send(resultMsg(id, c.s.accessToken(rt)))
}
