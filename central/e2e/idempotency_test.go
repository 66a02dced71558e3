package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// lightsAre checks every light's state in the simulated Home Assistant.
func lightsAre(t testing.TB, h *home, ids []string, want string) {
	t.Helper()
	for _, id := range ids {
		if st, err := h.haState(id); err != nil || st != want {
			t.Fatalf("%s = %q, %v; want %q", id, st, err, want)
		}
	}
}

// A sentence sent with an idempotency key runs once in the home however
// often it is retried, concurrently or on another replica, and every retry
// gets the first answer. "Toggle" makes a second run visible: it would turn
// the lights back off.
func TestIdempotencyKeyRunsOnceAcrossRetriesAndReplicas(t *testing.T) {
	c := startCentral(t)
	ctx := context.Background()
	alice := c.user(t, "alice@example.com")
	bob := c.user(t, "bob@example.com")
	a := c.enrolledHome(t, alice, "alice-home")
	b := c.enrolledHome(t, bob, "bob-home")
	lightsA := kitchenLights(t, c, alice, a.id)
	lightsB := kitchenLights(t, c, bob, b.id)
	lightsAre(t, a, lightsA, "off")

	process := func(c *central, token, homeID, text, key string) (*homeplanev1.ProcessResponse, error) {
		resp, err := c.intents.Process(ctx, authed(token, &homeplanev1.ProcessRequest{Text: text, HomeId: homeID, IdempotencyKey: key}))
		if err != nil {
			return nil, err
		}
		return resp.Msg, nil
	}
	const toggle = "toggle the kitchen lights"

	first, err := process(c, alice, a.id, toggle, "key-1")
	if err != nil || !first.GetSuccess() {
		t.Fatalf("first call: %v, %v", first, err)
	}
	lightsAre(t, a, lightsA, "on")
	again, err := process(c, alice, a.id, toggle, "key-1")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !proto.Equal(first, again) {
		t.Fatalf("retry answered %v, want the first answer %v", again, first)
	}
	lightsAre(t, a, lightsA, "on") // not toggled back

	// The key may come in the Idempotency-Key header instead.
	req := authed(alice, &homeplanev1.ProcessRequest{Text: toggle, HomeId: a.id})
	req.Header().Set("Idempotency-Key", "key-1")
	viaHeader, err := c.intents.Process(ctx, req)
	if err != nil || !proto.Equal(first, viaHeader.Msg) {
		t.Fatalf("retry with the header: %v, %v; want the first answer", viaHeader, err)
	}

	// The same key for another request is refused and runs nothing.
	_, err = process(c, alice, a.id, "turn off the kitchen lights", "key-1")
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("key reused for another request: %v, want InvalidArgument", err)
	}
	lightsAre(t, a, lightsA, "on")
	// A field and header that differ are refused too.
	req = authed(alice, &homeplanev1.ProcessRequest{Text: toggle, HomeId: a.id, IdempotencyKey: "key-1"})
	req.Header().Set("Idempotency-Key", "key-other")
	if _, err := c.intents.Process(ctx, req); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("differing field and header: %v, want InvalidArgument", err)
	}

	// Another user's key of the same name is another key: Bob's request
	// runs in his home, and never sees Alice's answer.
	bobs, err := process(c, bob, b.id, toggle, "key-1")
	if err != nil || !bobs.GetSuccess() || bobs.GetRequestId() == first.GetRequestId() {
		t.Fatalf("bob's call with alice's key: %v, %v", bobs, err)
	}
	lightsAre(t, b, lightsB, "on")
	lightsAre(t, a, lightsA, "on")

	// Concurrent duplicates: one run, one answer for all.
	const n = 6
	answers := make([]*homeplanev1.ProcessResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = process(c, alice, a.id, toggle, "key-2")
		}()
	}
	wg.Wait()
	var ok *homeplanev1.ProcessResponse
	for i := range n {
		var ce *connect.Error
		switch {
		case errs[i] == nil && ok == nil:
			ok = answers[i]
		case errs[i] == nil:
			if !proto.Equal(ok, answers[i]) {
				t.Fatalf("concurrent duplicates answered differently: %v and %v", ok, answers[i])
			}
		case errors.As(errs[i], &ce) && ce.Code() == connect.CodeAborted:
			// Still in progress when the caller's wait ended: retryable.
		default:
			t.Fatalf("concurrent duplicate %d: %v", i, errs[i])
		}
	}
	if ok == nil || !ok.GetSuccess() {
		t.Fatalf("no concurrent duplicate answered: %v", errs)
	}
	lightsAre(t, a, lightsA, "off") // toggled once

	// A second replica on the same database answers a retry from the
	// stored answer, though the home's agent is connected to the first.
	c2 := startCentralOn(t, c.db)
	fromReplica, err := process(c2, alice, a.id, toggle, "key-2")
	if err != nil || !proto.Equal(ok, fromReplica) {
		t.Fatalf("retry on the second replica: %v, %v; want the first answer %v", fromReplica, err, ok)
	}
	lightsAre(t, a, lightsA, "off")
}
