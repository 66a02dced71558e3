package idempotency_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/homeplane/homeplane/central/internal/idempotency"
)

func TestCheckKey(t *testing.T) {
	for _, ok := range []string{"a", "0b8e6c1e-7f4c-4f0e-9a55-3d1c3a0b6f21", strings.Repeat("k", idempotency.MaxKeyChars), "~!#"} {
		if err := idempotency.CheckKey(ok); err != nil {
			t.Errorf("CheckKey(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", "a b", "tab\t", "é", strings.Repeat("k", idempotency.MaxKeyChars+1), "nul\x00"} {
		if err := idempotency.CheckKey(bad); err == nil {
			t.Errorf("CheckKey(%q) accepted", bad)
		}
	}
}

// The command id is the same for a caller's key on every replica, and
// another caller's key of the same name gives another id.
func TestCommandIDPerCaller(t *testing.T) {
	alice, bob := idempotency.UserScope("alice"), idempotency.UserScope("bob")
	a1, a2 := idempotency.CommandID(alice, "k"), idempotency.CommandID(alice, "k")
	if a1 != a2 || !strings.HasPrefix(a1, "idem-") || len(a1) != len("idem-")+32 {
		t.Fatalf("CommandID = %q, %q", a1, a2)
	}
	if a1 == idempotency.CommandID(bob, "k") || a1 == idempotency.CommandID(alice, "k2") ||
		a1 == idempotency.CommandID(idempotency.DeviceScope("alice"), "k") {
		t.Fatal("different callers or keys share a command id")
	}
	// Scope and key cannot be shifted into each other.
	if idempotency.CommandID("user:a", "bc") == idempotency.CommandID("user:ab", "c") {
		t.Fatal("scope and key run together")
	}
}

func TestFingerprintTellsRequestsApart(t *testing.T) {
	a := idempotency.Fingerprint("Process", []byte("turn on"))
	if !bytes.Equal(a, idempotency.Fingerprint("Process", []byte("turn on"))) {
		t.Fatal("same request, different fingerprints")
	}
	if bytes.Equal(a, idempotency.Fingerprint("Process", []byte("turn off"))) || bytes.Equal(a, idempotency.Fingerprint("ControlInstance", []byte("turn on"))) {
		t.Fatal("different requests share a fingerprint")
	}
}
