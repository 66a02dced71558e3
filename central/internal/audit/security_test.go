package audit_test

import (
	"context"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
)

// TestOldShapeHashesUnchanged pins the content sums and links of records
// without the security event fields to the values the code computed before
// those fields existed, so every record written earlier still verifies.
func TestOldShapeHashesUnchanged(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890000000, time.UTC)
	for _, tc := range []struct {
		r          audit.Record
		sum, chain string
	}{
		{r: audit.Record{ID: 7, RequestID: "req-1", Kind: audit.KindIntent, UserID: "u1", HomeID: "h1", DeviceID: "d1",
			Text: "turn on the kitchen light", Intent: "HassTurnOn", Slots: map[string]any{"area": "kitchen", "domain": "light"},
			Parser: "rules", Executed: []any{map[string]any{"service": "light.turn_on"}}, Answer: map[string]any{"ok": true},
			Outcome: audit.OutcomeOK, Time: at, ParseUS: 10, ResolveUS: 20, ExecuteUS: 30, TotalUS: 70, LLMTokens: 3},
			sum:   "904d8a2063ca45b4654ce31d4f1f90980965c4bf9e31d8cb21366d9402ff7dfa",
			chain: "210e67e7d3084ed243a5d36f80df7aaad4001dda4fbfb36d9b40c3cc1d405eb6"},
		// A security event as it was stored before: action in intent, the
		// client's address among the slots.
		{r: audit.Record{ID: 8, RequestID: "req-2", Kind: audit.KindAdmin, UserID: "admin-1", Intent: "SetUserDisabled",
			Slots: map[string]any{"target_user_id": "u2", "client_addr": "192.0.2.7"}, Outcome: audit.OutcomeOK, Time: at},
			sum:   "992fdb2ffa7afc6ece38fb2155df0a81cd8c98c62da3b06f39ef6463822dde11",
			chain: "c7d1a2ed019dbe5d535949450827e3c1c5aae0d40ce98f5eb57206c1072e3070"},
	} {
		sum, err := audit.ContentSum(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(sum); got != tc.sum {
			t.Errorf("%s: content sum %s, want %s", tc.r.RequestID, got, tc.sum)
		}
		if got := hex.EncodeToString(audit.Link([]byte("prev"), tc.r.ID, sum)); got != tc.chain {
			t.Errorf("%s: link %s, want %s", tc.r.RequestID, got, tc.chain)
		}
	}
}

// TestSecurityFieldsAreHashed checks that each security event field, once
// set, changes the content sum, and that an empty detail differs from none.
func TestSecurityFieldsAreHashed(t *testing.T) {
	base := audit.Record{RequestID: "r", Kind: audit.KindAdmin, Time: time.Unix(1, 0)}
	seen := map[string]string{}
	for name, r := range map[string]audit.Record{
		"none":         base,
		"action":       with(base, func(r *audit.Record) { r.Action = "SetUserDisabled" }),
		"action moved": with(base, func(r *audit.Record) { r.Intent = "SetUserDisabled" }),
		"empty detail": with(base, func(r *audit.Record) { r.Detail = map[string]any{} }),
		"detail":       with(base, func(r *audit.Record) { r.Detail = map[string]any{"a": 1} }),
		"detail moved": with(base, func(r *audit.Record) { r.Slots = map[string]any{"a": 1} }),
		"addr":         with(base, func(r *audit.Record) { r.ClientAddr = netip.MustParseAddr("192.0.2.1") }),
		"other addr":   with(base, func(r *audit.Record) { r.ClientAddr = netip.MustParseAddr("192.0.2.2") }),
	} {
		sum, err := audit.ContentSum(r)
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[string(sum)]; dup {
			t.Errorf("%s and %s hash alike", name, other)
		}
		seen[string(sum)] = name
	}
}

func with(r audit.Record, f func(*audit.Record)) audit.Record {
	f(&r)
	return r
}

func TestSecurityEventRoundTrip(t *testing.T) {
	pool := pgtest.New(t)
	store := postgres.NewAuditStore(pool)
	w := audit.NewWriter(store, audit.Options{MaxJSONBytes: 200})
	defer w.Close()
	ctx := context.Background()
	zoned := netip.MustParseAddr("fe80::1%eth0")
	events := []audit.Event{
		{Kind: audit.KindAdmin, RequestID: "r1", UserID: "admin-1", Action: "SetUserDisabled", Outcome: audit.OutcomeOK,
			Detail: map[string]any{"target_user_id": "u2"}, ClientAddr: netip.MustParseAddr("192.0.2.7")},
		{Kind: audit.KindLoginFailed, RequestID: "r2", Action: "Login\x00", Outcome: audit.OutcomeDenied,
			Detail: map[string]any{"email": strings.Repeat("x", 300)}, ClientAddr: zoned},
		{Kind: audit.KindAccessDenied, RequestID: "r3", UserID: "u3", Action: "/homeplane.v1.AdminService/ListUsers",
			Outcome: audit.OutcomeDenied, ClientAddr: netip.MustParseAddr("2001:db8:0:0:1:0:0:1")},
		{Kind: audit.KindInstance, RequestID: "r4", UserID: "u4", Action: "restart", Outcome: audit.OutcomeOK},
	}
	for _, e := range events {
		if err := w.Event(ctx, e); err != nil {
			t.Fatalf("Event %s: %v", e.RequestID, err)
		}
	}
	got := map[string]audit.Record{}
	recs, err := store.Records(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		got[r.RequestID] = r
		if r.Intent != "" || r.Slots != nil {
			t.Errorf("%s: security event in the intent columns: %q %v", r.RequestID, r.Intent, r.Slots)
		}
	}
	r1 := got["r1"]
	if r1.Action != "SetUserDisabled" || r1.Detail["target_user_id"] != "u2" || r1.ClientAddr != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("r1 read back as %+v", r1)
	}
	if intent, slots := r1.Shown(); intent != "SetUserDisabled" || slots["target_user_id"] != "u2" || slots["client_addr"] != "192.0.2.7" {
		t.Errorf("r1 shown as %q %v", intent, slots)
	}
	r2 := got["r2"]
	if r2.Action != "Login\uFFFD" || r2.Detail["truncated"] != true || r2.ClientAddr != zoned.WithZone("") {
		t.Errorf("r2 read back as %+v", r2)
	}
	if r3 := got["r3"]; r3.ClientAddr != netip.MustParseAddr("2001:db8::1:0:0:1") {
		t.Errorf("r3 address read back as %v", r3.ClientAddr)
	}
	if r4 := got["r4"]; r4.Action != "restart" || r4.Detail != nil || r4.ClientAddr.IsValid() {
		t.Errorf("r4 read back as %+v", r4)
	}
	if intent, slots := got["r4"].Shown(); intent != "restart" || slots != nil {
		t.Errorf("r4 shown as %q %v", intent, slots)
	}

	// The intent filter finds a security event by its action, as it did.
	found, err := store.Records(ctx, audit.Filter{Kind: audit.KindAdmin, Intent: "SetUserDisabled"})
	if err != nil || len(found) != 1 || found[0].RequestID != "r1" {
		t.Fatalf("Records(intent=SetUserDisabled) = %+v, %v", found, err)
	}
	if v, err := audit.Verify(ctx, store); err != nil || v.Records != int64(len(events)) {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

func TestSecurityFieldsTamperDetected(t *testing.T) {
	for _, tc := range []struct{ name, tamper string }{
		{"action", "UPDATE audit_records SET action = 'EnableUser' WHERE request_id = 'new'"},
		{"detail", `UPDATE audit_records SET detail = '{"target_user_id": "u9"}' WHERE request_id = 'new'`},
		{"detail removed", "UPDATE audit_records SET detail = NULL WHERE request_id = 'new'"},
		{"client_addr", "UPDATE audit_records SET client_addr = '198.51.100.1' WHERE request_id = 'new'"},
		{"client_addr removed", "UPDATE audit_records SET client_addr = NULL WHERE request_id = 'new'"},
		{"action added to an old-shape record", "UPDATE audit_records SET action = 'x' WHERE request_id = 'old'"},
		{"address added to an intent", "UPDATE audit_records SET client_addr = '192.0.2.1' WHERE request_id = 'intent'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := pgtest.New(t)
			store := postgres.NewAuditStore(pool)
			w := audit.NewWriter(store, audit.Options{})
			ctx := context.Background()
			for _, r := range []audit.Record{
				{RequestID: "intent", Kind: audit.KindIntent, Intent: "HassTurnOn", Slots: map[string]any{"area": "kitchen"}},
				// Written the way security events were before their own columns.
				{RequestID: "old", Kind: audit.KindAdmin, Intent: "SetUserRole",
					Slots: map[string]any{"role": "admin", "client_addr": "192.0.2.3"}},
				audit.Event{Kind: audit.KindAdmin, RequestID: "new", Action: "SetUserDisabled", Outcome: audit.OutcomeOK,
					Detail: map[string]any{"target_user_id": "u2"}, ClientAddr: netip.MustParseAddr("192.0.2.7")}.Record(),
				{RequestID: "last", Kind: audit.KindLogin},
			} {
				if err := w.Write(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			if _, err := audit.Verify(ctx, store); err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			if _, err := pool.Exec(ctx, tc.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := audit.Verify(ctx, store)
			var b *audit.Broken
			if !errors.As(err, &b) || b.Reason != "changed" {
				t.Fatalf("Verify after tampering = %v, want a changed record", err)
			}
		})
	}
}
