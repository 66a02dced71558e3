package rpc

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/homeplane/homeplane/central/internal/pairing"
)

// RFC 8628's form endpoints, for a device that speaks plain HTTP: requests
// are application/x-www-form-urlencoded POSTs, answers are JSON, and errors
// carry RFC 6749's {"error", "error_description"} with the RFC's codes.
const (
	DeviceAuthorizationPath = "/oauth/device/code"
	TokenPath               = "/oauth/token"
	// DeviceCodeGrant is the grant_type of a token request with a device code.
	DeviceCodeGrant = "urn:ietf:params:oauth:grant-type:device_code"
)

// maxFormBytes bounds a form request: a device code and a few names.
const maxFormBytes = 4 << 10

// oauthError is an RFC 6749 error answer.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Interval is the seconds to wait before the next poll, with
	// authorization_pending and slow_down.
	Interval int32 `json:"interval,omitempty"`
}

// deviceAuthorization serves POST /oauth/device/code.
func (s *server) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	name := r.PostForm.Get("client_name")
	if name == "" {
		name = r.PostForm.Get("client_id")
	}
	if utf8.RuneCountInString(name) > maxNameChars {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "client_name is longer than 100 characters"})
		return
	}
	// Central must be able to name itself before a code is made.
	if _, _, err := s.verificationURIs(r.Context(), ""); err != nil {
		s.oauthFail(w, r, err)
		return
	}
	g, err := s.deps.Pairings.Start(r.Context(), name)
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	uri, complete, _ := s.verificationURIs(r.Context(), g.UserCode)
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code": g.DeviceCode, "user_code": g.UserCode,
		"verification_uri": uri, "verification_uri_complete": complete,
		"expires_in": seconds(g.ExpiresIn), "interval": seconds(g.Interval),
	})
}

// token serves POST /oauth/token with the device code grant.
func (s *server) token(w http.ResponseWriter, r *http.Request) {
	if !s.form(w, r) {
		return
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt == "":
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "grant_type is required"})
		return
	case gt != DeviceCodeGrant:
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type", Description: "only " + DeviceCodeGrant + " is served"})
		return
	}
	code := r.PostForm.Get("device_code")
	if code == "" {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "device_code is required"})
		return
	}
	polled, d, token, err := s.deps.Pairings.Poll(r.Context(), code)
	if err != nil {
		s.oauthFail(w, r, err)
		return
	}
	if polled.Status != pairing.StatusApproved {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: polled.Status.RFCError(), Interval: seconds(polled.Interval),
			Description: statusText[polled.Status]})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": token, "token_type": "Bearer", "device_id": d.ID, "home_id": d.HomeID,
	})
}

var statusText = map[pairing.Status]string{
	pairing.StatusPending:  "nobody approved the code yet",
	pairing.StatusSlowDown: "polled too soon; wait the interval",
	pairing.StatusDenied:   "the pairing was refused",
	pairing.StatusExpired:  "the codes expired; start again",
}

// form checks a form POST and parses it; it answers the request itself
// when it returns false.
func (s *server) form(w http.ResponseWriter, r *http.Request) bool {
	if s.deps.Pairings == nil {
		writeJSON(w, http.StatusNotFound, oauthError{Error: "invalid_request", Description: "pairing is not served here"})
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		writeJSON(w, http.StatusUnsupportedMediaType, oauthError{Error: "invalid_request", Description: "Content-Type must be application/x-www-form-urlencoded"})
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, oauthError{Error: "invalid_request", Description: "the form is larger than 4 KiB"})
			return false
		}
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request", Description: "malformed form"})
		return false
	}
	return true
}

// oauthFail answers a domain error as RFC 6749 words it; the status comes
// from the API's error mapping.
func (s *server) oauthFail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, pairing.ErrInvalidGrant) {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_grant", Description: "unknown, expired or used device code"})
		return
	}
	status, msg, ok := HTTPError(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "pairing failed", "path", r.URL.Path, "err", err)
	}
	code := "server_error"
	switch status {
	case http.StatusBadRequest:
		code = "invalid_request"
	case http.StatusTooManyRequests:
		code = "slow_down"
	case http.StatusServiceUnavailable:
		code = "temporarily_unavailable"
	}
	writeJSON(w, status, oauthError{Error: code, Description: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
