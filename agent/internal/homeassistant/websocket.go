package homeassistant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// CommandError is a WebSocket command's failure result.
type CommandError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("home assistant: %s: %s", e.Code, e.Message)
}

// Unwrap maps Home Assistant's error codes to sentinel errors.
func (e *CommandError) Unwrap() error {
	switch e.Code {
	case "unauthorized":
		return ErrUnauthorized
	case "not_found":
		return ErrNotFound
	case "invalid_format", "service_validation_error":
		return ErrBadRequest
	}
	return nil
}

// message is any server → client WebSocket message.
type message struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Success   *bool           `json:"success"`
	Result    json.RawMessage `json:"result"`
	Error     *CommandError   `json:"error"`
	Event     json.RawMessage `json:"event"`
	HAVersion string          `json:"ha_version"`
	Message   string          `json:"message"`
}

// decodeFrame reads one text frame: a message, or an array of messages when
// the server coalesces them.
func decodeFrame(b []byte) ([]message, error) {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	if len(b) > 0 && b[0] == '[' {
		msgs, err := decodeList[message](context.Background(), b, maxFrameMessages)
		if err != nil {
			return nil, fmt.Errorf("home assistant: websocket frame: %w", err)
		}
		return msgs, nil
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("home assistant: websocket frame: %w", err)
	}
	return []message{m}, nil
}

// maxFrameMessages bounds the messages one frame may coalesce: Home
// Assistant joins only what is queued for the client, at most 4,096
// (MAX_PENDING_MSG). A frame of millions of tiny messages would otherwise
// cost gigabytes to decode (ADR 0056).
const maxFrameMessages = 4096

// decodeList reads a JSON list of at most max entries one at a time, so
// that a list of millions of tiny entries is refused before it costs more
// than max entries' memory (ADR 0056), and stops when ctx ends. null is an
// empty list.
func decodeList[T any](ctx context.Context, b []byte, max int) ([]T, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("got %v, want a list", tok)
	}
	var out []T
	for dec.More() {
		if len(out) == max {
			return nil, fmt.Errorf("more than %d entries in a list", max)
		}
		if len(out)%1024 == 1023 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, err
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return nil, errors.New("data after the list")
	}
	return out, nil
}

// session is one authenticated WebSocket connection. One goroutine reads;
// writes may come from several (Watch pings and service calls while its
// reader waits).
type session struct {
	conn    *websocket.Conn
	writeMu sync.Mutex
	// nextID is taken under writeMu, so that ids go out in increasing
	// order: Home Assistant refuses an id lower than one it has seen.
	nextID  int64
	pending []message
	version string

	// calls are the service calls waiting for their result on Watch's
	// session; lost is set once it is gone.
	callMu sync.Mutex
	calls  map[int64]*call
	lost   error
	// lastSeen is when Watch last read a message (unix nanoseconds).
	lastSeen atomic.Int64
}

func (s *session) seen() { s.lastSeen.Store(time.Now().UnixNano()) }

// quietFor is how long the connection has said nothing.
func (s *session) quietFor() time.Duration { return time.Since(time.Unix(0, s.lastSeen.Load())) }

func (c *Client) websocketURL() (string, error) {
	if c.baseErr != nil {
		return "", c.baseErr
	}
	u := *c.base
	if u.Scheme == "https" {
		u.Scheme = "wss"
	} else {
		u.Scheme = "ws"
	}
	u.Path += "/api/websocket"
	return u.String(), nil
}

// dial opens a WebSocket and runs the auth phase within ctx.
func (c *Client) dial(ctx context.Context) (*session, error) {
	target, err := c.websocketURL()
	if err != nil {
		return nil, err
	}
	conn, resp, err := c.websocketDialer().DialContext(ctx, target, nil)
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		if err := dialContextError(ctx, err); err != nil {
			return nil, err
		}
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			// e.g. 503 while Home Assistant starts: keep the status for errors.Is.
			return nil, fmt.Errorf("websocket: %w", &StatusError{StatusCode: resp.StatusCode})
		}
		return nil, fmt.Errorf("home assistant: websocket: %w", err)
	}
	conn.SetReadLimit(MaxAnswerBytes)
	s := &session{conn: conn}
	tok := c.token.Load()
	err = s.authenticate(ctx, *tok)
	c.observeWith(tok, err)
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// dialContextError returns the context's error when it ended the dial. The
// dialer bounds the handshake with ctx's deadline on the connection itself,
// which can expire a moment before ctx reports it.
func dialContextError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if d, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// websocketDialer dials the way the REST client does: same TLS settings,
// dialer and proxy when its transport is an *http.Transport.
func (c *Client) websocketDialer() *websocket.Dialer {
	d := &websocket.Dialer{HandshakeTimeout: DefaultTimeout, Proxy: http.ProxyFromEnvironment}
	if t, ok := c.http.Transport.(*http.Transport); ok {
		d.Proxy, d.NetDialContext = t.Proxy, t.DialContext
		if t.TLSClientConfig != nil {
			d.TLSClientConfig = t.TLSClientConfig.Clone()
		}
	}
	return d
}

func (s *session) authenticate(ctx context.Context, token string) error {
	m, err := s.read(ctx)
	if err != nil {
		return fmt.Errorf("home assistant: websocket auth: %w", err)
	}
	if m.Type != "auth_required" {
		return fmt.Errorf("home assistant: websocket auth: got %q, want auth_required", m.Type)
	}
	if err := s.write(ctx, map[string]any{"type": "auth", "access_token": token}); err != nil {
		return fmt.Errorf("home assistant: websocket auth: %w", err)
	}
	m, err = s.read(ctx)
	if err != nil {
		return fmt.Errorf("home assistant: websocket auth: %w", err)
	}
	switch m.Type {
	case "auth_ok":
		s.version = m.HAVersion
		return nil
	case "auth_invalid":
		return fmt.Errorf("websocket auth: %s: %w", m.Message, ErrUnauthorized)
	}
	return fmt.Errorf("home assistant: websocket auth: unexpected %q", m.Type)
}

// closeWait bounds the close handshake.
const closeWait = time.Second

// close says goodbye and closes the connection.
func (s *session) close() {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait))
	_ = s.conn.Close()
}

func (s *session) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.writeLocked(ctx, b)
}

func (s *session) writeLocked(ctx context.Context, b []byte) error {
	defer context.AfterFunc(ctx, s.abort)()
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// abort closes the connection under a blocked read or write when their
// context ends. Closing is safe from any goroutine (the deadline setters are
// not), and it happens only once ctx.Err is set, so the caller reports the
// context's error.
func (s *session) abort() { _ = s.conn.NetConn().Close() }

// read returns the next message. A context ending during a read closes the
// connection: a WebSocket cannot resume after an interrupted read.
func (s *session) read(ctx context.Context) (message, error) {
	for len(s.pending) == 0 {
		stop := context.AfterFunc(ctx, s.abort)
		typ, b, err := s.conn.ReadMessage()
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return message{}, ctx.Err()
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				return message{}, ErrTooLarge
			}
			return message{}, err
		}
		if typ != websocket.TextMessage {
			continue
		}
		msgs, err := decodeFrame(b)
		if err != nil {
			return message{}, err
		}
		s.pending = msgs
	}
	m := s.pending[0]
	s.pending = s.pending[1:]
	return m, nil
}

// send writes a command with a fresh id and returns the id.
func (s *session) send(ctx context.Context, typ string, fields map[string]any) (int64, error) {
	return s.sendAs(ctx, typ, fields, nil)
}

// sendAs is send with before, when set, called with the id before the
// command goes out; its error stops it from going out.
func (s *session) sendAs(ctx context.Context, typ string, fields map[string]any, before func(id int64) error) (int64, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	id := s.nextID + 1
	msg := map[string]any{"id": id, "type": typ}
	for k, v := range fields {
		msg[k] = v
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return 0, err
	}
	s.nextID = id
	if before != nil {
		if err := before(id); err != nil {
			return id, err
		}
	}
	if err := s.writeLocked(ctx, b); err != nil {
		return id, err
	}
	return id, nil
}

// command sends a command and waits for its result, skipping other messages.
func (s *session) command(ctx context.Context, typ string, fields map[string]any) (json.RawMessage, error) {
	id, err := s.send(ctx, typ, fields)
	if err != nil {
		return nil, fmt.Errorf("home assistant: %s: %w", typ, err)
	}
	for {
		m, err := s.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("home assistant: %s: %w", typ, err)
		}
		if m.Type == "auth_invalid" {
			return nil, fmt.Errorf("home assistant: %s: %w", typ, revoked(m))
		}
		if m.ID != id || m.Type != "result" {
			continue
		}
		if m.Success == nil || !*m.Success {
			if m.Error == nil {
				return nil, fmt.Errorf("home assistant: %s: failed without an error", typ)
			}
			return nil, fmt.Errorf("%s: %w", typ, m.Error)
		}
		return m.Result, nil
	}
}

// revoked is the error of an auth_invalid in the middle of a session: Home
// Assistant no longer takes the token, and nothing on the session will be
// answered again.
func revoked(m message) error {
	msg := m.Message
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return fmt.Errorf("websocket auth revoked: %q: %w", msg, ErrUnauthorized)
}

// withDefaultTimeout bounds a whole WebSocket exchange when ctx has no deadline.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func isUnknownCommand(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && ce.Code == "unknown_command"
}

// Events the Watch subscribes to. A device moving to another area changes
// the area of its entities, so device registry updates count as well.
var watchedEvents = []string{
	"state_changed", "entity_registry_updated", "area_registry_updated",
	"floor_registry_updated", "device_registry_updated",
}

// pingInterval is how often Watch checks that the connection is alive.
var pingInterval = 30 * time.Second
