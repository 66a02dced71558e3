package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// TestAttacksRound5Contract attacks the broker authentication contract
// (central/internal/mqttauth) of central in external mode behind Mosquitto
// with the Homeplane plugin: what a broker, or anyone reaching the
// contract's address, might send. Each row asserts the secure outcome:
// no allow that the credentials do not earn, a refusal that says nothing of
// which part was wrong, no error for input that is merely wrong.
func TestAttacksRound5Contract(t *testing.T) {
	s := startExternal(t)
	ctx := context.Background()
	raw, err := os.ReadFile(os.Getenv("HOMEPLANE_MQTT_AUTH_TOKEN_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(raw))
	aliceToken, aliceHome, aliceUser, alicePass := newEnrolledHome(t, s.central, "alice@example.com")
	_, _, bobUser, bobPass := newEnrolledHome(t, s.central, "bob@example.com")
	type answer struct {
		status int
		body   string
		result string
	}
	post := func(t *testing.T, method, auth, contentType, body string) answer {
		t.Helper()
		req, err := http.NewRequest(method, s.authURL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var r struct {
			Result string `json:"result"`
		}
		_ = json.Unmarshal(b, &r)
		return answer{resp.StatusCode, string(b), r.Result}
	}
	creds := func(clientID, user, pass string) string {
		b, _ := json.Marshal(map[string]string{"clientid": clientID, "username": user, "password": pass, "peerhost": "192.0.2.1"})
		return string(b)
	}
	check := func(t *testing.T, body string) answer {
		t.Helper()
		return post(t, http.MethodPost, "Bearer "+token, "application/json", body)
	}
	denied := func(t *testing.T, what, body string) {
		t.Helper()
		if a := check(t, body); a.status != http.StatusOK || a.result != "deny" {
			t.Errorf("%s: %d %q, want 200 deny", what, a.status, a.body)
		}
	}
	if a := check(t, creds(aliceUser, aliceUser, alicePass)); a.result != "allow" {
		t.Fatalf("alice's own credentials: %d %q", a.status, a.body)
	}

	rows := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"contract/no token, a wrong one, another scheme and the token without its scheme", func(t *testing.T) {
			for _, auth := range []string{"", "Bearer x" + token, "Bearer " + token + "x", "Basic " + token, token, "Bearer  " + token, "Bearer"} {
				if a := post(t, http.MethodPost, auth, "application/json", creds(aliceUser, aliceUser, alicePass)); a.status != http.StatusUnauthorized {
					t.Errorf("Authorization %q: %d %q, want 401", strings.ReplaceAll(auth, token, "<token>"), a.status, a.body)
				}
			}
		}},
		{"contract/an agent's password under another agent's id", func(t *testing.T) {
			denied(t, "bob's id with alice's password", creds(bobUser, bobUser, alicePass))
		}},
		{"contract/a client id that is not the username", func(t *testing.T) {
			denied(t, "bob's client id, alice's credentials", creds(bobUser, aliceUser, alicePass))
			denied(t, "an empty client id", creds("", aliceUser, alicePass))
		}},
		{"contract/the service user's name off central's client ids and with an agent's password", func(t *testing.T) {
			denied(t, "the service user with an agent's password", creds("central-x", "homeplane-central", alicePass))
			denied(t, "the service user with an agent's password under the agent's id", creds(aliceUser, "homeplane-central", alicePass))
			denied(t, "an agent named as central", creds("central-"+aliceUser, aliceUser, alicePass))
		}},
		{"contract/an unknown agent and a wrong password answer alike", func(t *testing.T) {
			unknown := check(t, creds("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000", alicePass))
			wrong := check(t, creds(aliceUser, aliceUser, alicePass+"x"))
			if unknown.status != wrong.status || unknown.body != wrong.body || wrong.result != "deny" {
				t.Errorf("unknown agent %d %q, wrong password %d %q", unknown.status, unknown.body, wrong.status, wrong.body)
			}
		}},
		{"contract/ids with NUL, invalid UTF-8 and of 1.5 KB are denied, not failed", func(t *testing.T) {
			for _, id := range []string{aliceUser + "\x00", "\xff\xfe" + aliceUser, strings.Repeat("7", 1500), "' OR 1=1 --"} {
				b := `{"clientid":` + jsonString(id) + `,"username":` + jsonString(id) + `,"password":"x","peerhost":""}`
				if a := check(t, b); a.status != http.StatusOK || a.result != "deny" {
					t.Errorf("id %q: %d %q, want 200 deny", clipForLog(id), a.status, a.body)
				}
			}
		}},
		{"contract/a second object or bytes after the body", func(t *testing.T) {
			for _, tail := range []string{`{"username":"homeplane-central"}`, `garbage`, `]`} {
				if a := check(t, creds(aliceUser, aliceUser, alicePass)+tail); a.status != http.StatusBadRequest {
					t.Errorf("body followed by %q: %d %q, want 400", tail, a.status, a.body)
				}
			}
		}},
		{"contract/a GET and a form body", func(t *testing.T) {
			if a := post(t, http.MethodGet, "Bearer "+token, "application/json", ""); a.result == "allow" || a.status == http.StatusOK {
				t.Errorf("GET: %d %q", a.status, a.body)
			}
			form := url.Values{"clientid": {aliceUser}, "username": {aliceUser}, "password": {alicePass}}.Encode()
			if a := post(t, http.MethodPost, "Bearer "+token, "application/x-www-form-urlencoded", form); a.status != http.StatusBadRequest {
				t.Errorf("form body: %d %q, want 400", a.status, a.body)
			}
		}},
		{"contract/a storm of wrong tokens takes no check from a broker", func(t *testing.T) {
			var wg sync.WaitGroup
			for range 300 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req, _ := http.NewRequest(http.MethodPost, s.authURL, strings.NewReader(creds(aliceUser, aliceUser, alicePass)))
					req.Header.Set("Authorization", "Bearer wrong")
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
			}
			if a := check(t, creds(bobUser, bobUser, bobPass)); a.result != "allow" {
				t.Errorf("bob during the storm: %d %q", a.status, a.body)
			}
			wg.Wait()
		}},
		{"contract/a revoked agent's password, after it logged in", func(t *testing.T) {
			if a := check(t, creds(aliceUser, aliceUser, alicePass)); a.result != "allow" {
				t.Fatalf("before the revocation: %d %q", a.status, a.body)
			}
			if _, err := s.homes.RevokeAgent(ctx, authed(aliceToken, &homeplanev1.RevokeAgentRequest{HomeId: aliceHome})); err != nil {
				t.Fatal(err)
			}
			denied(t, "the revoked agent's password", creds(aliceUser, aliceUser, alicePass))
		}},
		{"contract/an agent of a deleted home, after it logged in", func(t *testing.T) {
			tok, home, user, pass := newEnrolledHome(t, s.central, "carol@example.com")
			if a := check(t, creds(user, user, pass)); a.result != "allow" {
				t.Fatalf("before the deletion: %d %q", a.status, a.body)
			}
			if _, err := s.homes.DeleteHome(ctx, authed(tok, &homeplanev1.DeleteHomeRequest{HomeId: home})); err != nil {
				t.Fatal(err)
			}
			denied(t, "the deleted home's agent", creds(user, user, pass))
		}},
	}
	for _, row := range rows {
		t.Run(row.name, row.run)
	}
	// Bob's agent is still allowed.
	if a := check(t, creds(bobUser, bobUser, bobPass)); a.result != "allow" {
		t.Errorf("bob afterwards: %d %q", a.status, a.body)
	}
}

func jsonString(s string) string {
	// Invalid UTF-8 is sent as is, the way a broker might pass it on.
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '"' || ch == '\\':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20:
			fmt.Fprintf(&b, `\u%04x`, ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func clipForLog(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
