package homeassistant

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/agent/internal/hasim"
)

// TestAttacksRound7Onboarding is the seventh attack round's part on
// onboarding (docs/benchmarks.md, "Attacks, round 7"): a fresh instance
// answering its onboarding views wrongly. Onboarding must end in a clear
// error within its deadline, never with a token the agent cannot send.
func TestAttacksRound7Onboarding(t *testing.T) {
	big := strings.Repeat("a", 20<<20)
	for name, f := range map[string]hasim.Faults{
		"onboarding steps of 20 MB":         {REST: map[string]string{"/api/onboarding": `[{"step":"` + big + `"}]`}},
		"onboarding steps as an object":     {REST: map[string]string{"/api/onboarding": `{"step":"user","done":false}`}},
		"an auth code of the wrong type":    {REST: map[string]string{"/api/onboarding/users": `{"auth_code":{"a":1}}`}},
		"an access token of 1 MB":           {REST: map[string]string{"/auth/token": `{"access_token":"` + big[:1<<20] + `"}`}},
		"a long-lived token with a newline": {WSResults: map[string]string{"auth/long_lived_access_token": `"abc\r\nX-Evil: 1"`}},
		"a long-lived token of 1 MB":        {WSResults: map[string]string{"auth/long_lived_access_token": `"` + big[:1<<20] + `"`}},
		"a long-lived token as a number":    {WSResults: map[string]string{"auth/long_lived_access_token": `12345`}},
		"onboarding one byte every 100 ms":  {RESTByteDelay: 100 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			_, ts := startSim(t, hasim.Options{Fresh: true, Faults: f})
			c := New(ts.URL, "", Options{})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			onboarded, err := c.Onboarded(ctx)
			if err == nil && !onboarded {
				var tok string
				tok, err = c.Onboard(ctx, Owner{Name: "A", Username: "a", Password: "secret-password", Language: "en"}, "homeplane", 3650)
				if err == nil {
					t.Fatalf("Onboard = token %.40q; want a clear error", tok)
				}
			}
			if err == nil && onboarded {
				t.Fatal("a fresh instance read as onboarded")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
