package hasim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Faults make the simulator misbehave toward its client, for attack tests
// only (ADR 0056): a real Home Assistant that is broken, compromised or
// not Home Assistant at all. The zero value is a well-behaved instance.
// Faults are read without locking: set them before serving.
type Faults struct {
	// WSAuth: "hang" sends auth_required and never answers the auth
	// message; "invalid" answers auth_invalid to any token.
	WSAuth string
	// WSResults maps a WebSocket command type to the raw text sent as its
	// result, unchecked: wrongly typed, malformed, NaN, huge or deep JSON.
	WSResults map[string]string
	// WSReply: "none" never answers a command; "wrong_id" answers with an
	// id the client did not send; "close_mid" starts the answer's frame
	// and drops the connection half way through it.
	WSReply string
	// WSBefore are raw text frames sent ahead of every command's answer:
	// frames of many MB, floods of events, garbage.
	WSBefore []string
	// REST maps a REST path to the raw body answered with 200 in place of
	// the real one, after authentication (none for the onboarding views).
	REST map[string]string
	// RESTByteDelay sends every REST body one byte per delay (slow loris).
	RESTByteDelay time.Duration
	// Redirect answers every REST request with 307 to this address.
	Redirect string
}

// faultAuth applies Faults.WSAuth; handled reports whether it did, and ok
// whether the connection goes on.
func (c *wsConn) faultAuth(ctx context.Context) (handled bool) {
	switch c.s.opts.Faults.WSAuth {
	case "hang":
		_ = c.writeDirect(ctx, map[string]string{"type": "auth_required", "ha_version": c.s.opts.Version})
		for { // until the client gives up
			if _, _, err := c.c.Read(ctx); err != nil {
				return true
			}
		}
	case "invalid":
		_ = c.writeDirect(ctx, map[string]string{"type": "auth_required", "ha_version": c.s.opts.Version})
		_, _, _ = c.c.Read(ctx)
		_ = c.writeDirect(ctx, map[string]string{"type": "auth_invalid", "message": "Invalid access token or password"})
		_ = c.c.Close(websocket.StatusNormalClosure, "")
		return true
	}
	return false
}

// faultReply answers command id of type typ as the Faults say; it reports
// whether the command is answered so (and must not run).
func (c *wsConn) faultReply(ctx context.Context, id int64, typ string) bool {
	f := &c.s.opts.Faults
	for _, frame := range f.WSBefore {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		err := c.c.Write(wctx, websocket.MessageText, []byte(frame))
		cancel()
		if err != nil {
			return true
		}
	}
	switch f.WSReply {
	case "none":
		return true
	case "wrong_id":
		c.send(resultMsg(id+1000, nil))
		return true
	case "close_mid":
		if w, err := c.c.Writer(ctx, websocket.MessageText); err == nil {
			_, _ = fmt.Fprintf(w, `{"id":%d,"type":"result","success":true,"result":[{"entity_id":"light.kit`, id)
		}
		_ = c.c.CloseNow()
		return true
	}
	if raw, ok := f.WSResults[typ]; ok {
		c.out <- []byte(fmt.Sprintf(`{"id":%d,"type":"result","success":true,"result":%s}`, id, raw))
		return true
	}
	return false
}

// faultREST answers a REST request as the Faults say; it reports whether it did.
func (s *Server) faultREST(w http.ResponseWriter, r *http.Request) bool {
	f := &s.opts.Faults
	if f.Redirect != "" {
		http.Redirect(w, r, f.Redirect, http.StatusTemporaryRedirect)
		return true
	}
	body, ok := f.REST[r.URL.Path]
	if !ok && f.RESTByteDelay == 0 {
		return false
	}
	if !onboardingPath(r.URL.Path) && !s.authorised(r.Header.Get("Authorization")) {
		plain(w, http.StatusUnauthorized)
		return true
	}
	if !ok {
		body = `{"message":"API running."}`
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f.RESTByteDelay == 0 {
		_, _ = strings.NewReader(body).WriteTo(w)
		return true
	}
	flusher, _ := w.(http.Flusher)
	for i := 0; i < len(body); i++ {
		if _, err := w.Write([]byte{body[i]}); err != nil {
			return true
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return true
		case <-time.After(f.RESTByteDelay):
		}
	}
	return true
}

// onboardingPath reports whether p is one of the views a fresh instance
// answers without a token, so its REST fault needs none either.
func onboardingPath(p string) bool {
	return p == "/api/onboarding" || p == "/api/onboarding/users" || p == "/auth/token"
}

// SendRaw sends frame as it is to every authenticated WebSocket client, as
// a misbehaving Home Assistant would: events with hostile contents, floods,
// garbage. A client that cannot keep up is disconnected, as with events.
func (s *Server) SendRaw(frame string) {
	s.mu.Lock()
	conns := make([]*wsConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		select {
		case c.out <- []byte(frame):
		default:
			c.cancel()
		}
	}
}
