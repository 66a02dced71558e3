package homeassistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrOnboarded means the instance already has its owner: a fresh instance
// can be onboarded once only.
var ErrOnboarded = errors.New("home assistant: already onboarded")

// Owner is the account a fresh instance is onboarded with.
type Owner struct {
	Name, Username, Password, Language string
}

// SetToken replaces the access token, e.g. with the long-lived token
// onboarding minted; calls already under way keep the old one.
func (c *Client) SetToken(token string) { c.token.Store(&token) }

// observeWith reports the outcome of a call made with tok. A refusal of a
// token SetToken has replaced since is not reported: it says nothing of
// the token in use, and would read as the new one being refused.
func (c *Client) observeWith(tok *string, err error) {
	if c.observe == nil || errors.Is(err, ErrUnauthorized) && c.token.Load() != tok {
		return
	}
	c.observe(err)
}

// Onboarded reports whether the instance has its owner already
// (GET /api/onboarding, which needs no token).
func (c *Client) Onboarded(ctx context.Context) (bool, error) {
	var steps []struct {
		Step string `json:"step"`
		Done bool   `json:"done"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/onboarding", nil, &steps); err != nil {
		return false, err
	}
	for _, s := range steps {
		if s.Step == "user" {
			return s.Done, nil
		}
	}
	// Home Assistant drops the onboarding view's steps once all are done.
	return true, nil
}

// Onboard creates the owner of a fresh instance, trades the auth code for an
// access token and mints a long-lived token named clientName, valid for
// lifespanDays. The instance is not touched when it has an owner already
// (ErrOnboarded).
func (c *Client) Onboard(ctx context.Context, owner Owner, clientName string, lifespanDays int) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	clientID, err := c.endpoint("/")
	if err != nil {
		return "", err
	}
	var created struct {
		AuthCode string `json:"auth_code"`
	}
	err = c.do(ctx, http.MethodPost, "/api/onboarding/users", map[string]string{
		"client_id": clientID, "name": owner.Name, "username": owner.Username,
		"password": owner.Password, "language": owner.Language,
	}, &created)
	var se *StatusError
	switch {
	case errors.As(err, &se) && se.StatusCode == http.StatusForbidden:
		return "", ErrOnboarded
	case err != nil:
		return "", fmt.Errorf("home assistant: onboarding: %w", err)
	case created.AuthCode == "":
		return "", errors.New("home assistant: onboarding: no auth code in the answer")
	}
	access, err := c.exchangeCode(ctx, clientID, created.AuthCode)
	if err != nil {
		return "", err
	}
	// The long-lived token is minted on a session authenticated with the
	// short-lived access token.
	s, err := New(c.base.String(), access, Options{HTTPClient: c.http, Logger: c.log}).dial(ctx)
	if err != nil {
		return "", fmt.Errorf("home assistant: onboarding: %w", err)
	}
	defer s.close()
	raw, err := s.command(ctx, "auth/long_lived_access_token", map[string]any{"client_name": clientName, "lifespan": lifespanDays})
	if err != nil {
		return "", err
	}
	var token string
	if err := json.Unmarshal(raw, &token); err != nil || !sendable(token) {
		return "", fmt.Errorf("home assistant: long-lived token: unexpected answer %.80q", raw)
	}
	return token, nil
}

// maxToken bounds a long-lived token; Home Assistant's are JWTs of about
// 200 bytes.
const maxToken = 4 << 10

// sendable reports whether token can go in an Authorization header as it
// is: a token with a line break or of any size is saved, then refused (or
// worse, splits the header) on every call after.
func sendable(token string) bool {
	if token == "" || len(token) > maxToken {
		return false
	}
	for i := 0; i < len(token); i++ {
		if token[i] <= ' ' || token[i] >= 0x7f {
			return false
		}
	}
	return true
}

// exchangeCode trades an onboarding auth code for an access token
// (POST /auth/token, form-encoded as OAuth2 wants it).
func (c *Client) exchangeCode(ctx context.Context, clientID, code string) (string, error) {
	target, err := c.endpoint("/auth/token")
	if err != nil {
		return "", err
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("home assistant: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("home assistant: auth token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return "", fmt.Errorf("home assistant: auth token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("auth token: %w", &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))})
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(b, &tok); err != nil || tok.AccessToken == "" {
		return "", errors.New("home assistant: auth token: no access token in the answer")
	}
	return tok.AccessToken, nil
}
