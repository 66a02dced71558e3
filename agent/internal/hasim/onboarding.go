package hasim

import (
	"encoding/json"
	"net/http"
	"sync"
)

// onboarding is a fresh instance's first-run flow: create the owner user,
// trade the auth code for tokens, then mint long-lived tokens over the
// WebSocket API.
type onboarding struct {
	mu     sync.Mutex
	done   bool
	codes  map[string]bool   // auth codes not yet exchanged
	tokens map[string]string // issued token → kind
}

func (o *onboarding) init() {
	if o.codes == nil {
		o.codes, o.tokens = map[string]bool{}, map[string]string{}
	}
}

func (o *onboarding) valid(token string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.tokens[token]
	return ok && token != ""
}

func (o *onboarding) issue(kind string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.init()
	t := randomHex(32)
	o.tokens[t] = kind
	return t
}

// getOnboarding answers GET /api/onboarding: the steps and whether each is done.
func (s *Server) getOnboarding(w http.ResponseWriter, _ *http.Request) {
	s.onb.mu.Lock()
	done := s.onb.done || !s.opts.Fresh
	s.onb.mu.Unlock()
	steps := []map[string]any{}
	for _, st := range []string{"user", "core_config", "analytics", "integration"} {
		steps = append(steps, map[string]any{"step": st, "done": done})
	}
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
	s.onb.mu.Lock()
	defer s.onb.mu.Unlock()
	if s.onb.done || !s.opts.Fresh {
		writeJSON(w, http.StatusForbidden, message("User step already done"))
		return
	}
	s.onb.init()
	s.onb.done = true
	code := randomHex(16)
	s.onb.codes[code] = true
	writeJSON(w, http.StatusOK, map[string]string{"auth_code": code})
}

// postToken answers POST /auth/token for grant_type=authorization_code.
func (s *Server) postToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("client_id") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	code := r.PostForm.Get("code")
	s.onb.mu.Lock()
	ok := s.onb.codes[code]
	delete(s.onb.codes, code)
	s.onb.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Invalid code"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": s.onb.issue("access"), "token_type": "Bearer",
		"refresh_token": randomHex(32), "expires_in": 1800,
	})
}

// longLivedToken answers WebSocket auth/long_lived_access_token.
func (c *wsConn) longLivedToken(id int64, msg map[string]any) {
	name, _ := msg["client_name"].(string)
	if name == "" {
		c.send(errorMsg(id, "invalid_format", "required key not provided @ data['client_name']"))
		return
	}
	c.send(resultMsg(id, c.s.onb.issue("long_lived")))
}
