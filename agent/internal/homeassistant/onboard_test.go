package homeassistant

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

func TestOnboardFreshInstance(t *testing.T) {
	_, ts := startSim(t, hasim.Options{Fresh: true})
	ctx := testContext(t)
	c := New(ts.URL, "", Options{})
	if done, err := c.Onboarded(ctx); err != nil || done {
		t.Fatalf("fresh instance: Onboarded = %v, %v", done, err)
	}
	if err := c.Ping(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Ping without a token = %v, want ErrUnauthorized", err)
	}
	owner := Owner{Name: "Owner", Username: "owner", Password: "a long random password", Language: "en"}
	long, err := c.Onboard(ctx, owner, "homeplane-agent", 3650)
	if err != nil || long == "" {
		t.Fatalf("Onboard = %q, %v", long, err)
	}
	c.SetToken(long)
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping with the long-lived token: %v", err)
	}
	if _, err := c.Registry(ctx); err != nil {
		t.Fatalf("WebSocket with the long-lived token: %v", err)
	}
	if done, err := c.Onboarded(ctx); err != nil || !done {
		t.Fatalf("after onboarding: Onboarded = %v, %v", done, err)
	}
	if _, err := c.Onboard(ctx, owner, "homeplane-agent", 3650); !errors.Is(err, ErrOnboarded) {
		t.Fatalf("second Onboard = %v, want ErrOnboarded", err)
	}
}

func TestOnboardAnOnboardedInstance(t *testing.T) {
	_, ts := startSim(t, hasim.Options{})
	c := New(ts.URL, "", Options{})
	_, err := c.Onboard(testContext(t), Owner{Name: "O", Username: "o", Password: "p", Language: "en"}, "homeplane-agent", 10)
	if !errors.Is(err, ErrOnboarded) {
		t.Fatalf("Onboard = %v, want ErrOnboarded", err)
	}
}

// A call refused for a token that was replaced while it was in flight is
// not reported: the refusal is of the old token, not of the one in use.
func TestRefusalOfAReplacedTokenIsNotObserved(t *testing.T) {
	arrived, answer := make(chan struct{}), make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer old" {
			close(arrived)
			<-answer
			http.Error(w, `{"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"message":"API running."}`))
	}))
	t.Cleanup(ts.Close)
	var mu sync.Mutex
	var observed []error
	c := New(ts.URL, "old", Options{Observe: func(err error) { mu.Lock(); observed = append(observed, err); mu.Unlock() }})
	ctx := testContext(t)
	stale := make(chan error, 1)
	go func() { stale <- c.Ping(ctx) }()
	<-arrived
	c.SetToken("new")
	close(answer)
	if err := <-stale; !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("call with the old token = %v, want ErrUnauthorized", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("call with the new token: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed) != 1 || observed[0] != nil {
		t.Fatalf("observed %v, want only the new token's success", observed)
	}
}
