package homeassistant

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/websocket"
)

// wsServer runs handler on an upgraded connection after the auth phase.
func wsServer(t *testing.T, handler func(conn *websocket.Conn)) *httptest.Server {
	t.Helper()
	up := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		if conn.WriteJSON(map[string]string{"type": "auth_required"}) != nil {
			return
		}
		var auth map[string]any
		if conn.ReadJSON(&auth) != nil || auth["access_token"] != token {
			return
		}
		if conn.WriteJSON(map[string]string{"type": "auth_ok", "ha_version": "2026.8.1"}) != nil {
			return
		}
		handler(conn)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestWebSocketFrameTooLarge(t *testing.T) {
	ts := wsServer(t, func(conn *websocket.Conn) {
		var cmd map[string]any
		if conn.ReadJSON(&cmd) != nil {
			return
		}
		// One text frame just over the bound: a valid JSON string of spaces.
		big := append(append([]byte(`"`), bytes.Repeat([]byte(" "), MaxAnswerBytes)...), '"')
		_ = conn.WriteMessage(websocket.TextMessage, big)
		_, _, _ = conn.ReadMessage() // until the client hangs up
	})
	_, err := New(ts.URL, token, Options{}).Registry(testContext(t))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v, want ErrTooLarge", err)
	}
}

func TestWebSocketGarbageAndRejectedAuth(t *testing.T) {
	garbage := wsServer(t, func(conn *websocket.Conn) {
		var cmd map[string]any
		if conn.ReadJSON(&cmd) != nil {
			return
		}
		_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"id": "not a number"`))
		_, _, _ = conn.ReadMessage()
	})
	if _, err := New(garbage.URL, token, Options{}).Registry(testContext(t)); err == nil {
		t.Fatal("a malformed frame was accepted")
	}
	if _, err := New(garbage.URL, "wrong-token", Options{}).Registry(testContext(t)); err == nil {
		t.Fatal("a connection closed during auth was accepted")
	}
}
