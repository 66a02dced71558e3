package rpc

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A plain HTTP client (a voice device) gets the status the firmware notes
// promise and always a JSON body with a code.
func TestPlainHTTPErrorsCarryJSON(t *testing.T) {
	e := newTestEnv(t)
	process := e.url + "/homeplane.v1.IntentService/Process"
	bigText := `{"text":"` + strings.Repeat("x", 100<<10) + `"}`
	cases := []struct {
		name        string
		method      string
		contentType string
		body        string
		chunked     bool
		wantStatus  int
		wantCode    string
	}{
		{"100 KB body", http.MethodPost, "application/json", bigText, false, http.StatusRequestEntityTooLarge, "resource_exhausted"},
		{"100 KB body without a length", http.MethodPost, "application/json", bigText, true, http.StatusRequestEntityTooLarge, "resource_exhausted"},
		{"wrong content type", http.MethodPost, "text/plain", `{"text":"hi"}`, false, http.StatusUnsupportedMediaType, "invalid_argument"},
		{"GET on a unary procedure", http.MethodGet, "", "", false, http.StatusMethodNotAllowed, "unimplemented"},
		{"bad token still 401", http.MethodPost, "application/json", `{"text":"hi"}`, false, http.StatusUnauthorized, "unauthenticated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(tc.method, process, body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+e.deviceToken)
			if tc.wantStatus == http.StatusUnauthorized {
				req.Header.Set("Authorization", "Bearer nonsense")
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got struct{ Code, Message string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if got.Code != tc.wantCode || got.Message == "" {
				t.Errorf("body %+v, want code %s and a message", got, tc.wantCode)
			}
		})
	}
}
