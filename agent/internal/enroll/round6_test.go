package enroll

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestAttacksRound6Enrollment is the enrollment part of the sixth attack
// round (docs/benchmarks.md, "Attacks, round 6"; ADR 0056): central, or
// whatever answers at its address, handing the agent a hostile identity.
// Each row asserts the agent refuses it with ErrBadResponse (nothing to
// save), or, for a redirect, that the token goes nowhere else.
func TestAttacksRound6Enrollment(t *testing.T) {
	with := func(f func(*homeplanev1.EnrollResponse)) *homeplanev1.EnrollResponse {
		r := goodResponse()
		f(r)
		return r
	}
	rows := []struct {
		name string
		resp *homeplanev1.EnrollResponse
	}{
		{"an agent id with a newline and an escape", with(func(r *homeplanev1.EnrollResponse) { r.AgentId = "agent-1\n\x1b[2Jroot" })},
		{"an MQTT username of 60,000 bytes", with(func(r *homeplanev1.EnrollResponse) { r.MqttUsername = strings.Repeat("u", 60000) })},
		{"an MQTT password with NUL and a newline", with(func(r *homeplanev1.EnrollResponse) { r.MqttPassword = "se\x00cret\n" })},
		{"an MQTT URL of another scheme (file:)", with(func(r *homeplanev1.EnrollResponse) { r.MqttUrl = "file:///etc/passwd" })},
		{"a home id with a path", with(func(r *homeplanev1.EnrollResponse) { r.HomeId = "../../homes/other" })},
		{"an MQTT topic wildcard as home id", with(func(r *homeplanev1.EnrollResponse) { r.HomeId = "+/#" })},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			_, err := Enroll(context.Background(), serve(t, &fakeCentral{resp: r.resp}), "good", "h", "v", &http.Client{Timeout: 5 * time.Second})
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("Enroll = %v, want ErrBadResponse", err)
			}
		})
	}
	t.Run("a redirect to another host", func(t *testing.T) {
		var leaked atomic.Bool
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			leaked.Store(strings.Contains(string(b), "good"))
			good, _ := proto.Marshal(goodResponse())
			w.Header().Set("Content-Type", "application/proto")
			_, _ = w.Write(good)
		}))
		defer elsewhere.Close()
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		defer redirect.Close()
		_, err := Enroll(context.Background(), redirect.URL, "good", "h", "v", &http.Client{Timeout: 5 * time.Second})
		if err == nil || leaked.Load() {
			t.Fatalf("Enroll = %v; the token reached the other host: %v", err, leaked.Load())
		}
	})
	t.Run("an answer one byte per 200 ms", func(t *testing.T) {
		good, _ := proto.Marshal(goodResponse())
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/proto")
			for _, c := range good {
				if _, err := w.Write([]byte{c}); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		}))
		defer srv.Close()
		start := time.Now()
		_, err := Enroll(context.Background(), srv.URL, "good", "h", "v", &http.Client{Timeout: time.Second})
		if err == nil || time.Since(start) > 3*time.Second {
			t.Fatalf("Enroll = %v after %v", err, time.Since(start))
		}
	})
}
