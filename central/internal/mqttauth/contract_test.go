package mqttauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/home"
)

const token = "0123456789abcdef-token"

// agents knows one agent, a1 of home h1, with secret s1; "broken" fails.
// With entered set, a check signals it and waits for release.
type agents struct{ entered, release chan struct{} }

func (a agents) AuthenticateAgent(ctx context.Context, id, secret string) (string, error) {
	if a.entered != nil {
		a.entered <- struct{}{}
		<-a.release
	}
	switch {
	case id == "broken":
		return "", errors.New("database down")
	case id == "a1" && secret == "s1":
		return "h1", nil
	}
	return "", home.ErrUnauthenticated
}

func newContract(t *testing.T, a agents, max int) http.Handler {
	t.Helper()
	h, err := NewHandler(a, Options{Token: token, ServiceUser: "svc", ServicePassword: "svc-pass", MaxConcurrent: max})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func call(h http.Handler, auth, body string) (*httptest.ResponseRecorder, Response) {
	r := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var res Response
	_ = json.Unmarshal(w.Body.Bytes(), &res)
	return w, res
}

// req is a request body for the credentials.
func req(id, user, pass string) string {
	b, _ := json.Marshal(Request{ClientID: id, Username: user, Password: pass, PeerHost: "127.0.0.1"})
	return string(b)
}

func TestContract(t *testing.T) {
	h := newContract(t, agents{}, 0)
	t.Run("agent allowed with its home's ACL", func(t *testing.T) {
		w, res := call(h, token, req("a1", "a1", "s1"))
		if w.Code != 200 || res.Result != "allow" || res.IsSuperuser || res.ClientAttrs["home"] != "h1" {
			t.Fatalf("%d %+v", w.Code, res)
		}
		want := RenderACL("h1")
		if len(res.ACL) != len(want) || res.ACL[len(res.ACL)-1].Permission != "deny" {
			t.Fatalf("acl %+v, want %+v", res.ACL, want)
		}
		for _, r := range res.ACL[:len(res.ACL)-1] {
			if !strings.HasPrefix(r.Topic, "eq homeplane/v1/homes/h1/") {
				t.Errorf("rule outside the home or not exact: %+v", r)
			}
			if r.Action == "publish" && (r.Retain == nil || *r.Retain != strings.HasSuffix(r.Topic, "/presence")) {
				t.Errorf("publish rule without the right retain flag: %+v", r)
			}
		}
	})
	for name, tc := range map[string]struct {
		auth, body string
		code       int
		result     string
	}{
		"no token":             {"", req("a1", "a1", "s1"), 401, ""},
		"wrong token":          {"x" + token, req("a1", "a1", "s1"), 401, ""},
		"wrong secret":         {token, req("a1", "a1", "s2"), 200, "deny"},
		"client id not user":   {token, req("a2", "a1", "s1"), 200, "deny"},
		"unknown agent":        {token, req("zz", "zz", "s1"), 200, "deny"},
		"store error":          {token, req("broken", "broken", "s1"), 503, ""},
		"service user":         {token, req("central-a", "svc", "svc-pass"), 200, "allow"},
		"service wrong pass":   {token, req("central-a", "svc", "nope"), 200, "deny"},
		"service as agent id":  {token, req("a1", "svc", "svc-pass"), 200, "deny"},
		"unknown field":        {token, `{"clientid":"a1","x":1}`, 400, ""},
		"oversize body":        {token, `{"clientid":"` + strings.Repeat("a", 5000) + `"}`, 400, ""},
		"not json":             {token, `clientid=a1`, 400, ""},
		"a second object":      {token, req("a1", "a1", "s1") + `{"username":"svc"}`, 400, ""},
		"bytes after the body": {token, req("a1", "a1", "s1") + `x`, 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			w, res := call(h, tc.auth, tc.body)
			if w.Code != tc.code || res.Result != tc.result {
				t.Fatalf("got %d %q, want %d %q", w.Code, res.Result, tc.code, tc.result)
			}
			if res.Result == "allow" && !res.IsSuperuser {
				t.Fatal("service user not superuser")
			}
		})
	}
	r := httptest.NewRequest(http.MethodGet, Path, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", w.Code)
	}
}

// Checks beyond the cap are refused at once, not queued.
func TestContractBusy(t *testing.T) {
	a := agents{entered: make(chan struct{}), release: make(chan struct{})}
	h := newContract(t, a, 1)
	body, _ := json.Marshal(Request{ClientID: "a1", Username: "a1", Password: "s1"})
	done := make(chan int)
	go func() {
		w, _ := call(h, token, string(body))
		done <- w.Code
	}()
	<-a.entered // the first check holds the only slot
	if w, _ := call(h, token, string(body)); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("second check: %d, want 503 with Retry-After", w.Code)
	}
	close(a.release)
	if code := <-done; code != 200 {
		t.Fatalf("held check: %d", code)
	}
}

// TestContractBearerScheme: the token counts only under the Bearer scheme
// (ADR 0053).
func TestContractBearerScheme(t *testing.T) {
	h := newContract(t, agents{}, 0)
	if w, res := call(h, token, req("a1", "a1", "s1")); w.Code != http.StatusOK || res.Result != "allow" {
		t.Fatalf("under Bearer: %d %q", w.Code, res.Result)
	}
	for _, auth := range []string{token, "Basic " + token, "bearer" + token, "Bearer  " + token} {
		r := httptest.NewRequest(http.MethodPost, Path, strings.NewReader(req("a1", "a1", "s1")))
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", strings.ReplaceAll(auth, token, "<token>"), w.Code)
		}
	}
}
