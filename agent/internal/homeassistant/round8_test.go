package homeassistant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// answerAll answers every command with an empty list, after before has
// said what it likes for the command's id; it ends when the client hangs up.
func answerAll(before func(conn *websocket.Conn, id int64) bool) func(conn *websocket.Conn) {
	return func(conn *websocket.Conn) {
		for {
			var cmd struct {
				ID   int64  `json:"id"`
				Type string `json:"type"`
			}
			if conn.ReadJSON(&cmd) != nil {
				return
			}
			if before != nil && !before(conn, cmd.ID) {
				_, _, _ = conn.ReadMessage()
				return
			}
			result := `[]`
			if cmd.Type == "config/area_registry/list" {
				result = `[{"area_id":"kitchen","name":"Kitchen"}]`
			}
			if conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"type":"result","success":true,"result":%s}`, cmd.ID, result)) != nil {
				return
			}
		}
	}
}

// TestAttacksRound8WebSocket is the eighth attack round's part on Home
// Assistant's WebSocket and REST answers (docs/benchmarks.md, "Attacks,
// round 8"): whatever the server sends, the client gives the right answer
// or a clear error within the caller's deadline, in bounded memory.
func TestAttacksRound8WebSocket(t *testing.T) {
	const deadline = 3 * time.Second
	registry := func(t *testing.T, ts *httptest.Server) (Registry, error, time.Duration) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		r, err := New(ts.URL, token, Options{}).Registry(ctx)
		return r, err, time.Since(start)
	}
	wantAreas := func(t *testing.T, r Registry, err error) {
		t.Helper()
		if err != nil || len(r.Areas) != 1 || r.Areas[0].ID != "kitchen" {
			t.Fatalf("Registry = %+v, %v; want the one kitchen Home Assistant answered", r.Areas, err)
		}
	}
	t.Run("results for ids never sent and duplicate results", func(t *testing.T) {
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			for _, other := range []int64{id + 1, id + 100, -1, 0, id - 1, 1 << 62} {
				_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"type":"result","success":true,"result":[{"area_id":"evil","name":"Evil"}]}`, other))
			}
			return true
		}))
		r, err, _ := registry(t, ts)
		wantAreas(t, r, err)
	})
	t.Run("auth_invalid mid-session", func(t *testing.T) {
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			if id < 3 {
				return true
			}
			_ = conn.WriteJSON(map[string]string{"type": "auth_invalid", "message": "token revoked"})
			return false
		}))
		_, err, took := registry(t, ts)
		if !errors.Is(err, ErrUnauthorized) || took > deadline/2 {
			t.Fatalf("Registry = %v after %v; want ErrUnauthorized at once", err, took)
		}
	})
	// 20,000 pings, each answered with a pong: 100,000 took past the 3 s
	// deadline under the race detector while other suites ran.
	t.Run("a flood of 20,000 pings", func(t *testing.T) {
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			if id == 1 {
				for i := 0; i < 20000; i++ {
					if conn.WriteMessage(websocket.PingMessage, []byte("p")) != nil {
						return false
					}
				}
			}
			return true
		}))
		r, err, _ := registry(t, ts)
		wantAreas(t, r, err)
	})
	t.Run("a flood of 20,000 events before an answer", func(t *testing.T) {
		ev := []byte(`{"id":1,"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.x","new_state":{"entity_id":"light.x","state":"on"}}}}`)
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			if id == 1 {
				for i := 0; i < 20000; i++ {
					if conn.WriteMessage(websocket.TextMessage, ev) != nil {
						return false
					}
				}
			}
			return true
		}))
		r, err, _ := registry(t, ts)
		wantAreas(t, r, err)
	})
	t.Run("a server that authenticates and never answers", func(t *testing.T) {
		ts := wsServer(t, func(conn *websocket.Conn) {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		})
		_, err, took := registry(t, ts)
		if err == nil || took > deadline+time.Second {
			t.Fatalf("Registry = %v after %v; want an error within %v", err, took, deadline)
		}
	})
	for name, code := range map[string]int{
		"a close frame with code 4999":         4999,
		"a close frame with code 1005":         websocket.CloseNoStatusReceived,
		"a close frame saying all went well":   websocket.CloseNormalClosure,
		"a close frame with a reserved code 0": 0,
	} {
		t.Run(name, func(t *testing.T) {
			ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
				if id < 2 {
					return true
				}
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, strings.Repeat("r", 100)), time.Now().Add(time.Second))
				return false
			}))
			_, err, took := registry(t, ts)
			if err == nil || took > deadline/2 {
				t.Fatalf("Registry = %v after %v; want a clear error at once", err, took)
			}
		})
	}
	t.Run("watch: auth_invalid mid-session", func(t *testing.T) {
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			if id < int64(len(watchedEvents)) {
				return true
			}
			_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"type":"result","success":true,"result":null}`, id))
			_ = conn.WriteJSON(map[string]string{"type": "auth_invalid", "message": "token revoked"})
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return false
				}
			}
		}))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		start := time.Now()
		err := New(ts.URL, token, Options{}).Watch(ctx, func(Change) {})
		if !errors.Is(err, ErrUnauthorized) || time.Since(start) > deadline/2 {
			t.Fatalf("Watch = %v after %v; want ErrUnauthorized at once", err, time.Since(start))
		}
	})
	t.Run("watch: results for calls never made, of 10 MB", func(t *testing.T) {
		big := strings.Repeat("a", 10<<20)
		ts := wsServer(t, answerAll(func(conn *websocket.Conn, id int64) bool {
			if id == int64(len(watchedEvents)) {
				for i := int64(1); i < 5; i++ {
					_ = conn.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"id":%d,"type":"result","success":true,"result":"%s"}`, id+i, big))
				}
			}
			return true
		}))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c := New(ts.URL, token, Options{})
		if err := c.Watch(ctx, func(Change) {}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Watch = %v; want it to keep watching until the deadline", err)
		}
	})
	t.Run("rest: states of 50 MB", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`[{"entity_id":"light.x","state":"`))
			chunk := []byte(strings.Repeat("a", 1<<20))
			for i := 0; i < 50; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			_, _ = w.Write([]byte(`"}]`))
		}))
		t.Cleanup(ts.Close)
		_, err := New(ts.URL, token, Options{}).States(testContext(t))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("States = %v; want ErrTooLarge", err)
		}
	})
	t.Run("rest: a service call answering 200 with garbage", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"entity_id":`))
		}))
		t.Cleanup(ts.Close)
		if ch, err := New(ts.URL, token, Options{}).CallService(testContext(t), "light", "turn_on", map[string]any{"entity_id": "light.x"}); err == nil {
			t.Fatalf("CallService = %v; want a clear error", ch)
		}
	})
}
