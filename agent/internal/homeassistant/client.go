// Package homeassistant is the agent's client for Home Assistant's REST and
// WebSocket API, authenticated with a long-lived access token.
package homeassistant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Sentinel errors; failures wrap them so callers can use errors.Is.
var (
	// ErrUnauthorized: the token was refused (HTTP 401 or auth_invalid).
	ErrUnauthorized = errors.New("home assistant: unauthorized")
	// ErrNotFound: the entity, service or subscription does not exist.
	ErrNotFound = errors.New("home assistant: not found")
	// ErrBadRequest: Home Assistant rejected the request data (HTTP 400,
	// WebSocket invalid_format or service_validation_error).
	ErrBadRequest = errors.New("home assistant: bad request")
	// ErrUnavailable: Home Assistant is starting or stopping (HTTP 503).
	ErrUnavailable = errors.New("home assistant: unavailable")
	// ErrTooLarge: an answer exceeded the size bound.
	ErrTooLarge = errors.New("home assistant: answer too large")
)

// MaxAnswerBytes bounds every REST body and WebSocket message the client reads.
const MaxAnswerBytes = 16 << 20

// maxErrorBody bounds how much of an error body is kept in a StatusError.
const maxErrorBody = 4 << 10

// DefaultTimeout bounds a request when the caller's context has no deadline.
const DefaultTimeout = 30 * time.Second

// StatusError is an HTTP answer other than success.
type StatusError struct {
	StatusCode int
	// Body is the start of the answer; Message is its "message" field when JSON.
	Body    string
	Message string
}

func (e *StatusError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("home assistant: HTTP %d: %s", e.StatusCode, e.Message)
	}
	if e.Body != "" {
		return fmt.Sprintf("home assistant: HTTP %d: %s", e.StatusCode, e.Body)
	}
	return fmt.Sprintf("home assistant: HTTP %d", e.StatusCode)
}

// Unwrap maps the status to a sentinel error.
func (e *StatusError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ErrUnauthorized
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

// Options holds the client's optional dependencies.
type Options struct {
	// HTTPClient carries REST requests and the WebSocket handshake; nil
	// means a client with DefaultTimeout.
	HTTPClient *http.Client
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
	// Observe, when set, hears the outcome of every call made with the
	// token (REST requests and WebSocket logins): nil when Home Assistant
	// answered it, the error otherwise. Refused tokens come as
	// ErrUnauthorized; see Refused.
	Observe func(err error)
}

// Client talks to one Home Assistant instance. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	baseErr error
	token   atomic.Pointer[string] // SetToken replaces it after onboarding
	// live is the session Watch holds open, once it is subscribed.
	live    atomic.Pointer[session]
	http    *http.Client
	log     *slog.Logger
	observe func(error)
}

// New returns a client for baseURL (e.g. "http://127.0.0.1:8123") using a
// long-lived access token. A malformed baseURL surfaces on the first call.
func New(baseURL, token string, opts Options) *Client {
	c := &Client{http: opts.HTTPClient, log: opts.Logger, observe: opts.Observe}
	c.token.Store(&token)
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.http.CheckRedirect == nil {
		// Home Assistant's API never redirects. Following one would send
		// a service call again, body and token with it, to wherever the
		// answer points (Go keeps the token for another port of the same
		// host): it is answered as the error it is.
		hc := *c.http
		hc.CheckRedirect = refuseRedirect
		c.http = &hc
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("home assistant: base url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = fmt.Errorf("home assistant: base url %q: want http(s)://host[:port]", baseURL)
	default:
		u.RawQuery, u.Fragment = "", ""
		c.base = u
	}
	return c
}

// refuseRedirect answers a redirect with an error instead of following it.
func refuseRedirect(req *http.Request, _ []*http.Request) error {
	return fmt.Errorf("home assistant: redirected to %s: not followed", req.URL.Redacted())
}

// State is an entity's state.
type State struct {
	EntityID    string         `json:"entity_id"`
	State       string         `json:"state"`
	Attributes  map[string]any `json:"attributes"`
	LastChanged time.Time      `json:"last_changed"`
	LastUpdated time.Time      `json:"last_updated"`
}

type wireState struct {
	EntityID    *string         `json:"entity_id"`
	State       *string         `json:"state"`
	Attributes  json.RawMessage `json:"attributes"`
	LastChanged string          `json:"last_changed"`
	LastUpdated string          `json:"last_updated"`
}

// UnmarshalJSON decodes a state object, accepting timestamps with and
// without a fraction of a second.
func (s *State) UnmarshalJSON(b []byte) error {
	var w wireState
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.EntityID == nil || *w.EntityID == "" || !strings.Contains(*w.EntityID, ".") {
		return errors.New("state object: missing or invalid entity_id")
	}
	if w.State == nil {
		return fmt.Errorf("state object %s: missing state", *w.EntityID)
	}
	out := State{EntityID: *w.EntityID, State: *w.State, Attributes: map[string]any{}}
	if len(w.Attributes) > 0 && string(w.Attributes) != "null" {
		if err := json.Unmarshal(w.Attributes, &out.Attributes); err != nil {
			return fmt.Errorf("state object %s: attributes: %w", out.EntityID, err)
		}
		if out.Attributes == nil {
			out.Attributes = map[string]any{}
		}
	}
	var err error
	if out.LastChanged, err = parseTime(w.LastChanged); err != nil {
		return fmt.Errorf("state object %s: last_changed: %w", out.EntityID, err)
	}
	if out.LastUpdated, err = parseTime(w.LastUpdated); err != nil {
		return fmt.Errorf("state object %s: last_updated: %w", out.EntityID, err)
	}
	*s = out
	return nil
}

// parseTime reads Home Assistant's ISO 8601 timestamps; Python leaves the
// fraction out when microseconds are zero. Empty means unknown.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// Config is the part of /api/config the agent uses.
type Config struct {
	Version      string   `json:"version"`
	LocationName string   `json:"location_name"`
	TimeZone     string   `json:"time_zone"`
	State        string   `json:"state"` // core state, e.g. RUNNING
	Language     string   `json:"language"`
	Country      string   `json:"country"`
	Currency     string   `json:"currency"`
	Latitude     float64  `json:"latitude"`
	Longitude    float64  `json:"longitude"`
	Elevation    float64  `json:"elevation"`
	Components   []string `json:"components"`
	UnitSystem   struct {
		Temperature string `json:"temperature"`
		Length      string `json:"length"`
	} `json:"unit_system"`
}

func (c *Client) endpoint(path string) (string, error) {
	if c.baseErr != nil {
		return "", c.baseErr
	}
	return c.base.String() + path, nil
}

// do sends one REST request and decodes a successful JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body any, out any) (err error) {
	tok := c.token.Load()
	if !strings.HasPrefix(path, "/api/onboarding") {
		// The onboarding views take no token: their answers say nothing of it.
		defer func() { c.observeWith(tok, err) }()
	}
	target, err := c.endpoint(path)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok && c.http.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("home assistant: encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("home assistant: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+*tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("home assistant: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		se := &StatusError{StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(b))}
		var m struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &m) == nil {
			se.Message = m.Message
		}
		c.log.Debug("home assistant answered with an error", "method", method, "path", path, "status", resp.StatusCode)
		return fmt.Errorf("%s %s: %w", method, path, se)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswerBytes+1))
	if err != nil {
		return fmt.Errorf("home assistant: %s %s: read: %w", method, path, err)
	}
	if len(b) > MaxAnswerBytes {
		return fmt.Errorf("%s %s: %w", method, path, ErrTooLarge)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("home assistant: %s %s: decode: %w", method, path, err)
	}
	return nil
}

// Ping checks that the API answers and accepts the token (GET /api/).
func (c *Client) Ping(ctx context.Context) error {
	var m struct {
		Message string `json:"message"`
	}
	return c.do(ctx, http.MethodGet, "/api/", nil, &m)
}

// Config reads /api/config.
func (c *Client) Config(ctx context.Context) (Config, error) {
	var cfg Config
	err := c.do(ctx, http.MethodGet, "/api/config", nil, &cfg)
	return cfg, err
}

// States reads every state (GET /api/states).
func (c *Client) States(ctx context.Context) ([]State, error) {
	var states []State
	if err := c.do(ctx, http.MethodGet, "/api/states", nil, &states); err != nil {
		return nil, err
	}
	return states, nil
}

// validName accepts the characters Home Assistant allows in domain and
// service names, which also keeps them safe in a URL path.
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CallService calls domain.service with data (targets such as "entity_id"
// go at the top level) and returns the states the call changed. It goes
// over the WebSocket a running Watch holds, else over REST. Home Assistant
// answers a refusal over the WebSocket as a *CommandError; over REST it
// does not report a service's validation message, and such failures come
// back as a *StatusError with status 500. A connection lost before the
// answer wraps ErrUnavailable: the call may have run and is not repeated.
func (c *Client) CallService(ctx context.Context, domain, service string, data map[string]any) ([]State, error) {
	if !validName(domain) || !validName(service) {
		return nil, fmt.Errorf("call service %q.%q: invalid name: %w", domain, service, ErrBadRequest)
	}
	if data == nil {
		data = map[string]any{}
	}
	if changed, ok, err := c.callLive(ctx, domain, service, data); ok {
		if err != nil {
			return nil, fmt.Errorf("call service %s.%s: %w", domain, service, err)
		}
		return changed, nil
	}
	var changed []State
	if err := c.do(ctx, http.MethodPost, "/api/services/"+domain+"/"+service, data, &changed); err != nil {
		return nil, fmt.Errorf("call service %s.%s: %w", domain, service, err)
	}
	return changed, nil
}
