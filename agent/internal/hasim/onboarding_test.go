package hasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestOnboardingMintsUsableTokens(t *testing.T) {
	srv := New(nil, Options{Fresh: true})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
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
	req, _ := http.NewRequest("GET", ts.URL+"/api/", nil)
	req.Header.Set("Authorization", "Bearer "+long)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/api/ with the long-lived token = %d", resp.StatusCode)
	}
}
