package rpc

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
)

// A small answer goes out as it is even to a client that accepts gzip; a
// large one is compressed.
func TestSmallAnswersAreNotCompressed(t *testing.T) {
	e := newTestEnv(t)
	process := func(t *testing.T) (encoding string, body []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.url+"/homeplane.v1.IntentService/Process",
			strings.NewReader(`{"text":"turn on the kitchen lights"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body as sent
		req.Header.Set("Authorization", "Bearer "+e.deviceToken)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return resp.Header.Get("Content-Encoding"), body
	}

	enc, body := process(t)
	if enc != "" || !strings.Contains(string(body), "Turned on the lights") {
		t.Fatalf("small answer: Content-Encoding %q, body %.200s; want it plain", enc, body)
	}
	if len(body) >= compressMinBytes {
		t.Fatalf("the small answer is %d bytes, not below %d: the test no longer tests the threshold", len(body), compressMinBytes)
	}

	long := rpctest.LightsOn()
	long.Speech = strings.Repeat("The lights are on. ", 200)
	e.intents.Answer(long, nil)
	if enc, _ := process(t); enc != "gzip" {
		t.Fatalf("large answer: Content-Encoding %q, want gzip", enc)
	}
}
