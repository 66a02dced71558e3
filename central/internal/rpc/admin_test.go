package rpc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/postgres"
	"github.com/homeplane/homeplane/central/internal/postgres/pgtest"
	"github.com/homeplane/homeplane/central/internal/rpc"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// adminEnv is central's API over a real database with an admin and two users.
type adminEnv struct {
	admin    homeplanev1connect.AdminServiceClient
	home     homeplanev1connect.HomeServiceClient
	authc    homeplanev1connect.AuthServiceClient
	rootTok  string
	aliceTok string
	aliceID  string
	homeID   string
	usage    *usage.Recorder
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.New(t)
	authStore := postgres.NewAuthStore(pool)
	keys, err := auth.LoadKeys(ctx, authStore, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	accounts := auth.NewService(authStore, keys, auth.Options{Notifier: postgres.NewOutbox(pool)})
	homes := home.NewService(postgres.NewHomeStore(pool), home.Options{})
	auditStore := postgres.NewAuditStore(pool)
	writer := audit.NewWriter(auditStore, audit.Options{})
	t.Cleanup(func() { writer.Close() })
	usageStore := postgres.NewUsageStore(pool)
	rec := usage.NewRecorder(usageStore, usage.Options{})
	rates, _ := usage.ParseRates("cpu_core_hour=0.5,memory_gib_hour=0.25,intent=0.01,currency=EUR")
	ops := admin.New(postgres.NewAdminStore(pool), accounts, writer, admin.Options{})
	h := rpc.NewHandler(rpc.Deps{
		Accounts: accounts, Homes: homes, Entities: rpctest.Entities{}, Intents: &rpctest.Intents{}, Auditor: writer,
		Admin: rpc.AdminDeps{Operators: ops, Audit: auditStore, Usage: usage.NewReporter(usageStore, rates)},
	}, rpc.Options{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &adminEnv{
		admin: homeplanev1connect.NewAdminServiceClient(http.DefaultClient, srv.URL),
		home:  homeplanev1connect.NewHomeServiceClient(http.DefaultClient, srv.URL),
		authc: homeplanev1connect.NewAuthServiceClient(http.DefaultClient, srv.URL),
		usage: rec,
	}
	for _, email := range []string{"root@example.com", "alice@example.com", "bob@example.com", "carol@example.org"} {
		if _, err := accounts.CreateUser(ctx, email, "a long enough password"); err != nil {
			t.Fatal(err)
		}
	}
	if err := authStore.SetRoleByEmail(ctx, "root@example.com", auth.RoleAdmin, time.Now()); err != nil {
		t.Fatal(err)
	}
	login := func(email string) (auth.User, string) {
		u, toks, err := accounts.Login(ctx, email, "a long enough password")
		if err != nil {
			t.Fatal(err)
		}
		return u, toks.Access
	}
	_, e.rootTok = login("root@example.com")
	alice, tok := login("alice@example.com")
	e.aliceTok, e.aliceID = tok, alice.ID
	hm, err := homes.Create(ctx, alice.ID, "Alice's")
	if err != nil {
		t.Fatal(err)
	}
	e.homeID = hm.ID
	return e
}

func bearer[T any](tok string, m *T) *connect.Request[T] {
	req := connect.NewRequest(m)
	req.Header().Set("Authorization", "Bearer "+tok)
	return req
}

func TestAdminServiceUsers(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()

	if _, err := e.admin.ListUsers(ctx, bearer(e.aliceTok, &homeplanev1.ListUsersRequest{})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("ListUsers as a user: %v, want PermissionDenied", err)
	}

	// Search and paginate: three example.com users, two per page.
	var emails []string
	tok := ""
	for range 3 {
		resp, err := e.admin.ListUsers(ctx, bearer(e.rootTok, &homeplanev1.ListUsersRequest{Query: "EXAMPLE.COM", PageSize: 2, PageToken: tok}))
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range resp.Msg.GetUsers() {
			emails = append(emails, u.GetEmail())
		}
		if tok = resp.Msg.GetNextPageToken(); tok == "" {
			break
		}
	}
	if len(emails) != 3 || emails[0] != "alice@example.com" || emails[2] != "root@example.com" {
		t.Fatalf("listed %v", emails)
	}

	// Disabling ends alice's sessions: her access token stops working at once.
	resp, err := e.admin.SetUserDisabled(ctx, bearer(e.rootTok, &homeplanev1.SetUserDisabledRequest{UserId: e.aliceID, Disabled: true}))
	if err != nil || !resp.Msg.GetUser().GetDisabled() {
		t.Fatalf("SetUserDisabled = %v, %v", resp, err)
	}
	if _, err := e.home.ListHomes(ctx, bearer(e.aliceTok, &homeplanev1.ListHomesRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("disabled user's token: %v, want Unauthenticated", err)
	}
	if _, err := e.admin.SetUserDisabled(ctx, bearer(e.rootTok, &homeplanev1.SetUserDisabledRequest{UserId: e.aliceID})); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func() error
		want connect.Code
	}{
		{"unknown user", func() error {
			_, err := e.admin.SetUserRole(ctx, bearer(e.rootTok, &homeplanev1.SetUserRoleRequest{UserId: "00000000-0000-4000-8000-000000000000", Role: "admin"}))
			return err
		}, connect.CodeNotFound},
		{"bad role", func() error {
			_, err := e.admin.SetUserRole(ctx, bearer(e.rootTok, &homeplanev1.SetUserRoleRequest{UserId: e.aliceID, Role: "god"}))
			return err
		}, connect.CodeInvalidArgument},
		{"bad page token", func() error {
			_, err := e.admin.ListUsers(ctx, bearer(e.rootTok, &homeplanev1.ListUsersRequest{PageToken: "!!"}))
			return err
		}, connect.CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); connect.CodeOf(err) != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	role, err := e.admin.SetUserRole(ctx, bearer(e.rootTok, &homeplanev1.SetUserRoleRequest{UserId: e.aliceID, Role: "admin"}))
	if err != nil || role.Msg.GetUser().GetRole() != "admin" {
		t.Fatalf("SetUserRole = %v, %v", role, err)
	}
	if _, err := e.admin.ResetUserPassword(ctx, bearer(e.rootTok, &homeplanev1.ResetUserPasswordRequest{UserId: e.aliceID})); err != nil {
		t.Fatalf("ResetUserPassword: %v", err)
	}

	// Every admin action is in the audit log, findable by kind, newest first.
	q, err := e.admin.QueryAudit(ctx, bearer(e.rootTok, &homeplanev1.QueryAuditRequest{Kind: audit.KindAdmin, PageSize: 2}))
	if err != nil {
		t.Fatal(err)
	}
	recs := q.Msg.GetRecords()
	if len(recs) != 2 || recs[0].GetIntent() != "ResetUserPassword" || recs[1].GetIntent() != "SetUserRole" || q.Msg.GetNextPageToken() == "" {
		t.Fatalf("audit page 1 = %v", q.Msg)
	}
	// The action shows as the intent, as it always did, and apart; so do
	// the details, as the slots and apart.
	role0 := recs[1]
	if role0.GetAction() != "SetUserRole" || role0.GetDetail().AsMap()["role"] != "admin" || role0.GetSlots().AsMap()["role"] != "admin" {
		t.Fatalf("SetUserRole record = %v", role0)
	}
	// The intent filter finds security events by their action.
	byAction, err := e.admin.QueryAudit(ctx, bearer(e.rootTok, &homeplanev1.QueryAuditRequest{Intent: "SetUserRole"}))
	if err != nil || len(byAction.Msg.GetRecords()) != 1 || byAction.Msg.GetRecords()[0].GetId() != role0.GetId() {
		t.Fatalf("QueryAudit(intent=SetUserRole) = %v, %v", byAction, err)
	}
	q2, err := e.admin.QueryAudit(ctx, bearer(e.rootTok, &homeplanev1.QueryAuditRequest{Kind: audit.KindAdmin, PageSize: 10, PageToken: q.Msg.GetNextPageToken()}))
	if err != nil {
		t.Fatal(err)
	}
	// Disable and enable; refused requests (bad role, unknown user) change nothing and are not admin actions.
	if n := len(q2.Msg.GetRecords()); n != 2 || q2.Msg.GetRecords()[0].GetIntent() != "EnableUser" {
		t.Fatalf("audit page 2 has %d records: %v", n, q2.Msg)
	}
	if _, err := e.admin.QueryAudit(ctx, bearer(e.rootTok, &homeplanev1.QueryAuditRequest{Kind: "intent", PageToken: q.Msg.GetNextPageToken()})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("page token with other filters: %v", err)
	}
}

func TestAdminServiceHomesAndUsage(t *testing.T) {
	e := newAdminEnv(t)
	ctx := context.Background()
	homes, err := e.admin.ListAllHomes(ctx, bearer(e.rootTok, &homeplanev1.ListAllHomesRequest{}))
	if err != nil || len(homes.Msg.GetHomes()) != 1 || homes.Msg.GetHomes()[0].GetOwner().GetEmail() != "alice@example.com" {
		t.Fatalf("ListAllHomes = %v, %v", homes, err)
	}

	// Two hours of one full core and 2 GiB, sampled every minute, recent
	// enough to be billed (usage.Options.MaxLate).
	start := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	for i := range 121 {
		if err := e.usage.Add(ctx, e.homeID, usage.Sample{Time: start.Add(time.Duration(i) * time.Minute), CPUPercent: 100, MemoryBytes: 2 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := e.admin.GetUsageReport(ctx, bearer(e.rootTok, &homeplanev1.GetUsageReportRequest{
		Since: timestamppb.New(start), Until: timestamppb.New(start.Add(3 * time.Hour))}))
	if err != nil {
		t.Fatal(err)
	}
	lines := rep.Msg.GetLines()
	if len(lines) != 2 || lines[0].GetHomeId() != e.homeID || lines[1].GetHomeId() != "" || rep.Msg.GetCurrency() != "EUR" {
		t.Fatalf("report = %v", rep.Msg)
	}
	l := lines[0]
	if l.GetCpuCoreHours() < 1.99 || l.GetCpuCoreHours() > 2.01 || l.GetMemoryGibHours() < 3.99 || l.GetMemoryGibHours() > 4.01 {
		t.Fatalf("home line = %v, want 2 core-hours and 4 GiB-hours", l)
	}
	if want := 2*0.5 + 4*0.25; l.GetPrice() < want-0.01 || l.GetPrice() > want+0.01 {
		t.Fatalf("price = %v, want %v", l.GetPrice(), want)
	}
	if _, err := e.admin.GetUsageReport(ctx, bearer(e.rootTok, &homeplanev1.GetUsageReportRequest{
		Since: timestamppb.New(start), Until: timestamppb.New(start)})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("empty period: %v", err)
	}
}

// TestAuditRecordProtoShowsBothShapesAlike: a security event stored before
// it had columns of its own (action in intent, client address among the
// slots) and one stored in them look the same to API users.
func TestAuditRecordProtoShowsBothShapesAlike(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	old := audit.Record{ID: 1, RequestID: "r", Kind: audit.KindAdmin, UserID: "admin-1", Time: at, Outcome: audit.OutcomeOK,
		Intent: "SetUserDisabled", Slots: map[string]any{"target_user_id": "u2", "client_addr": "2001:db8::7"}}
	current := audit.Event{Kind: audit.KindAdmin, RequestID: "r", UserID: "admin-1", Time: at, Outcome: audit.OutcomeOK,
		Action: "SetUserDisabled", Detail: map[string]any{"target_user_id": "u2"}, ClientAddr: netip.MustParseAddr("2001:db8::7")}.Record()
	current.ID = 1
	a, b := rpc.AuditRecordProto(old), rpc.AuditRecordProto(current)
	if !proto.Equal(a, b) {
		t.Fatalf("old shape shown as %v\nnew shape shown as %v", a, b)
	}
	if a.GetIntent() != "SetUserDisabled" || a.GetAction() != "SetUserDisabled" || a.GetClientAddr() != "2001:db8::7" ||
		a.GetSlots().AsMap()["client_addr"] != "2001:db8::7" || a.GetDetail().AsMap()["client_addr"] != nil ||
		a.GetDetail().AsMap()["target_user_id"] != "u2" {
		t.Fatalf("shown as %v", a)
	}
	intent := rpc.AuditRecordProto(audit.Record{Kind: audit.KindIntent, Intent: "HassTurnOn", Slots: map[string]any{"area": "kitchen"}})
	if intent.GetIntent() != "HassTurnOn" || intent.GetSlots().AsMap()["area"] != "kitchen" || intent.GetAction() != "" ||
		intent.GetDetail() != nil || intent.GetClientAddr() != "" {
		t.Fatalf("intent shown as %v", intent)
	}
}

// TestAuditFilterRefusesWhatTheDatabaseCannotTake: ids with control
// characters, text with a NUL and times past the year 9999 are invalid
// arguments before any query (attack round 8); ordinary filters pass.
func TestAuditFilterRefusesWhatTheDatabaseCannotTake(t *testing.T) {
	bad := map[string]*homeplanev1.QueryAuditRequest{
		"an outcome with NUL":      {Outcome: "ok\x00"},
		"a home id with a space":   {HomeId: "a b"},
		"a kind with a newline":    {Kind: "login\n"},
		"text with NUL":            {Text: "turn\x00on"},
		"since past the year 9999": {Since: &timestamppb.Timestamp{Seconds: 1 << 62}},
		"until before the year 1":  {Until: &timestamppb.Timestamp{Seconds: -1 << 40}},
		"nanos out of range":       {Since: &timestamppb.Timestamp{Seconds: 1, Nanos: -5}},
	}
	for name, req := range bad {
		if _, err := rpc.AuditFilter(req); connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid argument", name, err)
		}
	}
	ok := &homeplanev1.QueryAuditRequest{HomeId: "00000000-0000-4000-8000-000000000001", Outcome: "ok", Kind: "intent",
		Text: "turn on the kitchen lights\n", Since: timestamppb.New(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)),
		Until: timestamppb.New(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))}
	if _, err := rpc.AuditFilter(ok); err != nil {
		t.Errorf("an ordinary filter: %v", err)
	}
}
