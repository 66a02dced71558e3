package hasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/agent/internal/atomicfile"
)

// onboard runs the agent's onboarding against ts and returns the
// long-lived token it mints.
func onboard(t *testing.T, ts *httptest.Server) string {
	t.Helper()
	post := func(path, ctype, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(ts.URL+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	user := `{"client_id":"http://agent/","name":"Owner","username":"owner","password":"pw","language":"en"}`
	code, m := post("/api/onboarding/users", "application/json", user)
	authCode, _ := m["auth_code"].(string)
	if code != http.StatusOK || authCode == "" {
		t.Fatalf("create owner = %d %v", code, m)
	}
	if code, _ := post("/api/onboarding/users", "application/json", user); code != http.StatusForbidden {
		t.Errorf("second owner = %d, want 403", code)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {authCode}, "client_id": {"http://agent/"}}.Encode()
	code, m = post("/auth/token", "application/x-www-form-urlencoded", form)
	access, _ := m["access_token"].(string)
	if code != http.StatusOK || access == "" || m["token_type"] != "Bearer" {
		t.Fatalf("token = %d %v", code, m)
	}
	if code, _ := post("/auth/token", "application/x-www-form-urlencoded", form); code != http.StatusBadRequest {
		t.Errorf("reused auth code = %d, want 400", code)
	}

	c := wsDial(t, ts)
	c.recv()
	c.send(map[string]any{"type": "auth", "access_token": access})
	if m := c.recv(); m["type"] != "auth_ok" {
		t.Fatalf("auth with the onboarding token: %v", m)
	}
	c.send(map[string]any{"id": 1, "type": "auth/long_lived_access_token", "client_name": "homeplane-agent", "lifespan": 3650})
	res := c.recv()
	long, _ := res["result"].(string)
	if res["success"] != true || long == "" {
		t.Fatalf("long-lived token: %v", res)
	}
	return long
}

func TestOnboardingMintsUsableTokens(t *testing.T) {
	ts := httptest.NewServer(New(nil, Options{Fresh: true}).Handler())
	t.Cleanup(ts.Close)
	long := onboard(t, ts)
	if a := do(t, ts, "GET", "/api/", "Bearer "+long, ""); a.status != http.StatusOK {
		t.Errorf("/api/ with the long-lived token = %d", a.status)
	}
	// A token signed with another key is refused, even with a known issuer.
	head, rest, _ := strings.Cut(long, ".")
	payload, _, _ := strings.Cut(rest, ".")
	if a := do(t, ts, "GET", "/api/", "Bearer "+head+"."+payload+".AAAA", ""); a.status != http.StatusUnauthorized {
		t.Errorf("/api/ with a forged signature = %d, want 401", a.status)
	}
}

// TestConfigDirKeepsTokensAndStates restarts the simulator on the same
// configuration directory, as a re-created container with the same volume.
func TestConfigDirKeepsTokensAndStates(t *testing.T) {
	dir := t.TempDir()
	open := func() *httptest.Server {
		t.Helper()
		s, err := Open(nil, Options{Fresh: true, ConfigDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		return ts
	}
	ts := open()
	long := onboard(t, ts)
	auth := "Bearer " + long
	if a := do(t, ts, "POST", "/api/services/light/turn_on", auth, `{"entity_id":"light.kitchen_ceiling","brightness":77}`); a.status != http.StatusOK {
		t.Fatalf("turn on = %d %s", a.status, a.body)
	}
	ts.Close()

	ts = open()
	a := do(t, ts, "GET", "/api/states/light.kitchen_ceiling", auth, "")
	if a.status != http.StatusOK {
		t.Fatalf("the long-lived token after a restart: %d %s", a.status, a.body)
	}
	var st map[string]any
	_ = json.Unmarshal(a.body, &st)
	if st["state"] != "on" || st["attributes"].(map[string]any)["brightness"] != 77.0 {
		t.Fatalf("state after a restart = %v", st)
	}
	a = do(t, ts, "GET", "/api/onboarding", "", "")
	if !strings.Contains(string(a.body), `{"done":true,"step":"user"}`) {
		t.Errorf("onboarding after a restart = %s", a.body)
	}
	if a := do(t, ts, "POST", "/api/onboarding/users", "", `{"client_id":"x","name":"x","username":"x","password":"x","language":"en"}`); a.status != http.StatusForbidden {
		t.Errorf("a second owner after a restart = %d, want 403", a.status)
	}

	t.Run("files are shaped like core's", func(t *testing.T) {
		var auth storageFile[authData]
		readJSON(t, filepath.Join(dir, ".storage", "auth"), &auth)
		if auth.Key != "auth" || auth.Version != 1 || len(auth.Data.Users) != 1 || !auth.Data.Users[0].IsOwner ||
			len(auth.Data.Credentials) != 1 || auth.Data.Credentials[0].Data["username"] != "owner" {
			t.Fatalf("auth = %+v", auth)
		}
		kinds := map[string]int{}
		for _, rt := range auth.Data.RefreshTokens {
			kinds[rt.TokenType]++
			if rt.JWTKey == "" || rt.Token == "" || rt.UserID != auth.Data.Users[0].ID {
				t.Errorf("refresh token %+v", rt)
			}
		}
		if kinds[tokenNormal] != 1 || kinds[tokenLongLived] != 1 {
			t.Errorf("token types = %v", kinds)
		}
		var onb storageFile[onboardingData]
		readJSON(t, filepath.Join(dir, ".storage", "onboarding"), &onb)
		if onb.Key != "onboarding" || onb.Version != 4 || len(onb.Data.Done) != 1 || onb.Data.Done[0] != "user" {
			t.Errorf("onboarding = %+v", onb)
		}
		var rs storageFile[[]map[string]any]
		readJSON(t, filepath.Join(dir, ".storage", "core.restore_state"), &rs)
		if rs.Key != "core.restore_state" || len(rs.Data) != len(DemoHome().Entities) {
			t.Fatalf("restore state: key %q, %d items", rs.Key, len(rs.Data))
		}
		if _, ok := rs.Data[0]["last_seen"]; !ok || rs.Data[0]["state"].(map[string]any)["entity_id"] == nil {
			t.Errorf("restore state item = %v", rs.Data[0])
		}
		entries, _ := os.ReadDir(filepath.Join(dir, ".storage"))
		for _, e := range entries {
			if atomicfile.Leftover(e.Name()) {
				t.Errorf("temporary file left behind: %s", e.Name())
			}
			if info, _ := e.Info(); info.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", e.Name(), info.Mode().Perm())
			}
		}
	})

	t.Run("another instance's token is refused", func(t *testing.T) {
		other := httptest.NewServer(New(nil, Options{Fresh: true}).Handler())
		t.Cleanup(other.Close)
		if a := do(t, other, "GET", "/api/", auth, ""); a.status != http.StatusUnauthorized {
			t.Errorf("= %d, want 401", a.status)
		}
	})

	t.Run("a damaged store is reported, not replaced", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.MkdirAll(filepath.Join(bad, ".storage"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, ".storage", "auth"), []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(nil, Options{ConfigDir: bad}); err == nil || !strings.Contains(err.Error(), "auth") {
			t.Fatalf("Open on a damaged auth store: %v", err)
		}
	})
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
