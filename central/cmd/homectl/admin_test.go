package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/limits"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// operators is a hand-written rpc.Operators over a fixed user list.
type operators struct{ users []auth.User }

func (o *operators) Users(_ context.Context, q, after string, limit int) ([]auth.User, error) {
	var out []auth.User
	for _, u := range o.users {
		if strings.Contains(u.Email, q) && u.Email > after && len(out) < limit {
			out = append(out, u)
		}
	}
	return out, nil
}

func (o *operators) Homes(context.Context, string, int) ([]admin.FleetHome, error) {
	return []admin.FleetHome{{Home: home.Home{ID: "h1", Name: "Cabin"}, Owner: o.users[0]}}, nil
}

func (o *operators) SetUserDisabled(_ context.Context, _ admin.Actor, id string, d bool) (auth.User, error) {
	for i := range o.users {
		if o.users[i].ID == id {
			o.users[i].Disabled = d
			return o.users[i], nil
		}
	}
	return auth.User{}, admin.ErrNotFound
}

func (o *operators) SetUserRole(context.Context, admin.Actor, string, string) (auth.User, error) {
	return auth.User{}, admin.ErrInvalidInput
}

func (o *operators) ResetUserPassword(context.Context, admin.Actor, string) error { return nil }

// auditLog is a hand-written rpc.AuditLog of n records, one a minute, newest first.
type auditLog struct{ recs []audit.Record }

func (l *auditLog) Records(_ context.Context, f audit.Filter) ([]audit.Record, error) {
	var out []audit.Record
	for _, r := range l.recs {
		if f.Before.ID != 0 && r.ID >= f.Before.ID {
			continue
		}
		if len(out) == f.Limit {
			break
		}
		out = append(out, r)
	}
	return out, nil
}

type reports struct{}

func (reports) Report(context.Context, time.Time, time.Time) ([]usage.Line, error) {
	return []usage.Line{
		{UserID: "u1", Email: "carol@example.com", HomeID: "h1", CPUCoreHours: 1.5, MemoryGiBHours: 3, Intents: 7, Price: 1.25},
		{UserID: "u1", Email: "carol@example.com", CPUCoreHours: 1.5, MemoryGiBHours: 3, Intents: 7, Price: 1.25},
		{UserID: "u2", Email: "=1+2@x.test", HomeID: "h2"},
	}, nil
}

func (reports) Currency() string { return "EUR" }

// limitsSvc keeps one home's limits, "h1", whose agent is offline.
var limitsSvc = limits.New(&oneHomeLimits{}, nil, limits.Options{})

type oneHomeLimits struct {
	mu sync.Mutex
	l  *homeplanev1.InstanceLimits
}

func (o *oneHomeLimits) Limits(context.Context, string) (*homeplanev1.InstanceLimits, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.l, o.l != nil, nil
}

func (o *oneHomeLimits) SetLimits(_ context.Context, id string, l *homeplanev1.InstanceLimits) error {
	if id != "h1" {
		return limits.ErrNotFound
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.l = l
	return nil
}

func newAdminCLI(t *testing.T) *cli {
	t.Helper()
	c := newCLI(t)
	root := c.accounts.AddUser("root@example.com", "root-password", auth.RoleAdmin)
	ops := &operators{users: []auth.User{root, {ID: "u1", Email: "carol@example.com", Role: "user"}}}
	log := &auditLog{}
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := 1200; i >= 1; i-- {
		text := "turn on, \"the\" lights"
		if i == 1 {
			text = "=HYPERLINK(\"http://x.test\")" // a sentence a spreadsheet would run
		}
		r := audit.Record{ID: int64(i), RequestID: fmt.Sprint("r", i), Kind: "intent",
			Text: text, Time: base.Add(time.Duration(i) * time.Minute), Outcome: "ok", TotalUS: 1500}
		if i == 2 {
			// A security event whose action and details a spreadsheet would run.
			r = audit.Event{Kind: audit.KindLoginFailed, RequestID: "r2", Time: r.Time, Outcome: audit.OutcomeDenied,
				Action: "=cmd|' /C calc'!A0", Detail: map[string]any{"email": "@SUM(1)"},
				ClientAddr: netip.MustParseAddr("2001:db8::2")}.Record()
			r.ID = 2
		}
		log.recs = append(log.recs, r)
	}
	srv := httptest.NewServer(rpc.NewHandler(rpc.Deps{
		Accounts: c.accounts, Homes: c.homes, Entities: rpctest.Entities{}, Intents: c.intents, Auditor: &rpctest.Auditor{},
		Admin:  rpc.AdminDeps{Operators: ops, Audit: log, Usage: reports{}},
		Limits: limitsSvc,
	}, rpc.Options{}))
	t.Cleanup(srv.Close)
	c.url, c.env[envCentralURL] = srv.URL, srv.URL
	c.ok("login", "--email", "root@example.com", "--password", "root-password")
	return c
}

func TestAdminCommands(t *testing.T) {
	c := newAdminCLI(t)

	out := c.ok("admin", "users")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "carol@example.com") || !strings.Contains(out, "root@example.com") {
		t.Errorf("users table:\n%s", out)
	}
	var listed struct{ Users []struct{ Email string } }
	decode(t, c.ok("admin", "users", "--query", "carol", "--json"), &listed)
	if len(listed.Users) != 1 || listed.Users[0].Email != "carol@example.com" {
		t.Errorf("users --query carol --json = %+v", listed)
	}
	if out := c.ok("admin", "users", "disable", "u1"); !strings.Contains(out, "yes") {
		t.Errorf("disable said:\n%s", out)
	}
	if out := c.ok("admin", "homes"); !strings.Contains(out, "Cabin") || !strings.Contains(out, "offline") {
		t.Errorf("homes table:\n%s", out)
	}
	if out := c.ok("admin", "usage", "--since", "2026-05-01", "--until", "2026-06-01"); !strings.Contains(out, "1.25 EUR") || !strings.Contains(out, "(user total)") {
		t.Errorf("usage table:\n%s", out)
	}
	if out := c.ok("admin", "limits", "h1", "--memory", "768MiB", "--cpus", "0.5"); !strings.Contains(out, "memory 768.0 MiB, 0.50 CPUs") || !strings.Contains(out, "offline") {
		t.Errorf("limits said:\n%s", out)
	}
	if out := c.ok("admin", "limits", "h1", "--clear"); !strings.Contains(out, "cleared") {
		t.Errorf("limits --clear said:\n%s", out)
	}

	// The default audit table shows a page; an export walks every page.
	if out := c.ok("admin", "audit"); strings.Count(out, "\n") != 51 {
		t.Errorf("audit table has %d lines, want header + 50", strings.Count(out, "\n"))
	}
	file := filepath.Join(t.TempDir(), "audit.csv")
	code, _, stderr := c.run("admin", "audit", "--limit", "0", "--format", "csv", "--output", file)
	if code != exitOK || !strings.Contains(stderr, "exported 1200 records") {
		t.Fatalf("csv export: exit %d, stderr %q", code, stderr)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1201 || rows[0][0] != "id" || rows[1][0] != "1200" || rows[1][7] != `turn on, "the" lights` {
		t.Fatalf("csv: %d rows, %v; first %v", len(rows), err, rows[:min(2, len(rows))])
	}
	if got := rows[1200][7]; got != `'=HYPERLINK("http://x.test")` {
		t.Errorf("formula sentence exported as %q, want it escaped", got)
	}
	// A security event: its action in the intent column, as before, and
	// in its own, both escaped; details and address in theirs.
	ev := map[string]string{}
	for i, name := range rows[0] {
		ev[name] = rows[1199][i]
	}
	var detail, slots map[string]any
	if ev["id"] != "2" || ev["intent"] != `'=cmd|' /C calc'!A0` || ev["action"] != `'=cmd|' /C calc'!A0` ||
		ev["client_addr"] != "2001:db8::2" ||
		json.Unmarshal([]byte(ev["detail"]), &detail) != nil || len(detail) != 1 || detail["email"] != "@SUM(1)" ||
		json.Unmarshal([]byte(ev["slots"]), &slots) != nil || len(slots) != 2 || slots["client_addr"] != "2001:db8::2" {
		t.Errorf("security event exported as %v", ev)
	}
	usageRows, err := csv.NewReader(strings.NewReader(c.ok("admin", "usage", "--since", "2026-05-01", "--until", "2026-06-01", "--format", "csv"))).ReadAll()
	if err != nil || len(usageRows) != 4 || usageRows[3][1] != "'=1+2@x.test" || usageRows[1][1] != "carol@example.com" {
		t.Errorf("usage csv = %q, %v; want the formula email escaped", usageRows, err)
	}
	_, out, _ = c.run("admin", "audit", "--limit", "3", "--format", "jsonl")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "{") {
		t.Errorf("jsonl:\n%s", out)
	}

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad role", []string{"admin", "users", "role", "u1", "god"}, exitError, "invalid_argument"},
		{"unknown user", []string{"admin", "users", "disable", "nobody"}, exitError, "not_found"},
		{"bad time", []string{"admin", "audit", "--since", "yesterday"}, exitUsage, "--since"},
		{"usage needs a period", []string{"admin", "usage"}, exitUsage, "--since and --until"},
		{"unknown command", []string{"admin", "fleet"}, exitUsage, "unknown admin command"},
		{"bad size", []string{"admin", "limits", "h1", "--memory", "lots"}, exitUsage, "--memory"},
		{"limits need a home", []string{"admin", "limits"}, exitUsage, "takes a home id"},
		{"limits out of bounds", []string{"admin", "limits", "h1", "--memory", "1MiB"}, exitError, "6 MiB"},
		{"limits of an unknown home", []string{"admin", "limits", "h2", "--memory", "1GiB"}, exitError, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := c.run(tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}
