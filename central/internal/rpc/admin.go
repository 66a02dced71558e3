package rpc

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"

	"github.com/homeplane/homeplane/central/internal/admin"
	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/usage"
)

// Operators is what AdminService needs for users and homes (admin.Service).
type Operators interface {
	Users(ctx context.Context, query, afterEmail string, limit int) ([]auth.User, error)
	Homes(ctx context.Context, afterID string, limit int) ([]admin.FleetHome, error)
	SetUserDisabled(ctx context.Context, a admin.Actor, userID string, disabled bool) (auth.User, error)
	SetUserRole(ctx context.Context, a admin.Actor, userID, role string) (auth.User, error)
	ResetUserPassword(ctx context.Context, a admin.Actor, userID string) error
}

// AuditLog is what QueryAudit reads (postgres.AuditStore).
type AuditLog interface {
	Records(ctx context.Context, f audit.Filter) ([]audit.Record, error)
}

// UsageReports computes usage reports (usage.Reporter).
type UsageReports interface {
	Report(ctx context.Context, since, until time.Time) ([]usage.Line, error)
	Currency() string
}

// Instances tells the latest known Home Assistant status of a home, as the
// agent's telemetry reported it.
type Instances interface {
	Instance(homeID string) (*homeplanev1.Instance, bool)
}

// InstanceLimits keeps and delivers the limits of homes' containers
// (limits.Service).
type InstanceLimits interface {
	Get(ctx context.Context, homeID string) (*homeplanev1.InstanceLimits, error)
	Set(ctx context.Context, homeID string, l *homeplanev1.InstanceLimits) (delivered bool, err error)
	Release(ctx context.Context, homeID string)
}

// AdminDeps are what AdminService calls. Without Operators every procedure
// answers Unimplemented; Instances may be nil (no instance status shown).
type AdminDeps struct {
	Operators Operators
	Audit     AuditLog
	Usage     UsageReports
	Instances Instances
}

// adminService serves AdminService; the policy admits admins only.
type adminService struct {
	homeplanev1connect.UnimplementedAdminServiceHandler
	s *server
}

var _ homeplanev1connect.AdminServiceHandler = (*adminService)(nil)

var errAdminUnavailable = errors.New("administration is not configured on this server")

func (a *adminService) deps() (AdminDeps, error) {
	d := a.s.deps.Admin
	if d.Operators == nil || d.Audit == nil || d.Usage == nil {
		return d, connect.NewError(connect.CodeUnimplemented, errAdminUnavailable)
	}
	return d, nil
}

func actor(ctx context.Context) admin.Actor {
	c, _ := CallerFrom(ctx)
	return admin.Actor{UserID: c.UserID, RequestID: RequestID(ctx)}
}

// maxAdminPage bounds page_size of every admin listing.
const maxAdminPage = 1000

func adminPageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, invalidArgument("page_size must not be negative")
	case n == 0:
		return 50, nil
	}
	return min(int(n), maxAdminPage), nil
}

func invalidArgument(msg string) error {
	return connect.NewError(connect.CodeInvalidArgument, errors.New(msg))
}

// stringToken is the page token of listings ordered by a unique string.
func stringToken(last string) string { return base64.RawURLEncoding.EncodeToString([]byte(last)) }

func parseStringToken(tok string) (string, error) {
	if len(tok) > 512 {
		return "", invalidArgument("invalid page_token")
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", invalidArgument("invalid page_token")
	}
	return string(b), nil
}

func (a *adminService) ListUsers(ctx context.Context, req *connect.Request[homeplanev1.ListUsersRequest]) (*connect.Response[homeplanev1.ListUsersResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	m := req.Msg
	var c check
	c.field("query", m.GetQuery(), false, maxEmailChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	size, err := adminPageSize(m.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := parseStringToken(m.GetPageToken())
	if err != nil {
		return nil, err
	}
	users, err := d.Operators.Users(ctx, m.GetQuery(), after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &homeplanev1.ListUsersResponse{}
	if len(users) > size {
		users = users[:size]
		resp.NextPageToken = stringToken(users[size-1].Email)
	}
	for _, u := range users {
		resp.Users = append(resp.Users, userProto(u))
	}
	return connect.NewResponse(resp), nil
}

func (a *adminService) SetUserDisabled(ctx context.Context, req *connect.Request[homeplanev1.SetUserDisabledRequest]) (*connect.Response[homeplanev1.SetUserDisabledResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	var c check
	c.field("user_id", req.Msg.GetUserId(), true, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	u, err := d.Operators.SetUserDisabled(ctx, actor(ctx), req.Msg.GetUserId(), req.Msg.GetDisabled())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.SetUserDisabledResponse{User: userProto(u)}), nil
}

func (a *adminService) SetUserRole(ctx context.Context, req *connect.Request[homeplanev1.SetUserRoleRequest]) (*connect.Response[homeplanev1.SetUserRoleResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	var c check
	c.field("user_id", req.Msg.GetUserId(), true, maxIDChars)
	c.field("role", req.Msg.GetRole(), true, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	u, err := d.Operators.SetUserRole(ctx, actor(ctx), req.Msg.GetUserId(), req.Msg.GetRole())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.SetUserRoleResponse{User: userProto(u)}), nil
}

func (a *adminService) ResetUserPassword(ctx context.Context, req *connect.Request[homeplanev1.ResetUserPasswordRequest]) (*connect.Response[homeplanev1.ResetUserPasswordResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	var c check
	c.field("user_id", req.Msg.GetUserId(), true, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	if err := d.Operators.ResetUserPassword(ctx, actor(ctx), req.Msg.GetUserId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.ResetUserPasswordResponse{}), nil
}

func (a *adminService) ListAllHomes(ctx context.Context, req *connect.Request[homeplanev1.ListAllHomesRequest]) (*connect.Response[homeplanev1.ListAllHomesResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	size, err := adminPageSize(req.Msg.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := parseStringToken(req.Msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	homes, err := d.Operators.Homes(ctx, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &homeplanev1.ListAllHomesResponse{}
	if len(homes) > size {
		homes = homes[:size]
		resp.NextPageToken = stringToken(homes[size-1].Home.ID)
	}
	for _, h := range homes {
		f := &homeplanev1.FleetHome{
			Home:          homeProto(h.Home, a.s.deps.Presence),
			Owner:         userProto(h.Owner),
			AgentVersion:  h.AgentVersion,
			AgentHostname: h.AgentHostname,
		}
		if d.Instances != nil {
			if inst, ok := d.Instances.Instance(h.Home.ID); ok {
				f.Instance = inst
			}
		}
		resp.Homes = append(resp.Homes, f)
	}
	return connect.NewResponse(resp), nil
}

// AuditFilter turns a QueryAudit request into a filter and its cursor.
func AuditFilter(m *homeplanev1.QueryAuditRequest) (audit.Filter, error) {
	var c check
	for name, v := range map[string]string{"user_id": m.GetUserId(), "home_id": m.GetHomeId(), "device_id": m.GetDeviceId(),
		"intent": m.GetIntent(), "outcome": m.GetOutcome(), "kind": m.GetKind()} {
		c.field(name, v, false, maxIDChars)
		c.token(name, v)
	}
	c.field("text", m.GetText(), false, maxTextChars)
	c.plain("text", m.GetText())
	c.instant("since", m.GetSince())
	c.instant("until", m.GetUntil())
	if err := c.err(); err != nil {
		return audit.Filter{}, err
	}
	f := audit.Filter{UserID: m.GetUserId(), HomeID: m.GetHomeId(), DeviceID: m.GetDeviceId(), Intent: m.GetIntent(),
		Outcome: m.GetOutcome(), Kind: m.GetKind(), Text: m.GetText()}
	if m.Since != nil {
		f.Since = m.GetSince().AsTime()
	}
	if m.Until != nil {
		f.Until = m.GetUntil().AsTime()
	}
	size, err := adminPageSize(m.GetPageSize())
	if err != nil {
		return f, err
	}
	f.Limit = size
	if tok := m.GetPageToken(); tok != "" {
		cur, err := f.ParsePageToken(tok)
		if err != nil {
			return f, invalidArgument("invalid page_token: it must come from a response to the same filters")
		}
		f.Before = cur
	}
	return f, nil
}

func (a *adminService) QueryAudit(ctx context.Context, req *connect.Request[homeplanev1.QueryAuditRequest]) (*connect.Response[homeplanev1.QueryAuditResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	f, err := AuditFilter(req.Msg)
	if err != nil {
		return nil, err
	}
	size := f.Limit
	f.Limit = size + 1
	recs, err := d.Audit.Records(ctx, f)
	if err != nil {
		return nil, err
	}
	resp := &homeplanev1.QueryAuditResponse{}
	if len(recs) > size {
		recs = recs[:size]
		last := recs[size-1]
		resp.NextPageToken = f.PageToken(audit.Cursor{Time: last.Time, ID: last.ID})
	}
	for _, r := range recs {
		resp.Records = append(resp.Records, AuditRecordProto(r))
	}
	return connect.NewResponse(resp), nil
}

// AuditRecordProto converts an audit record for the API. Intent and slots
// show a security event as they always have, whichever shape it was stored
// in; action, detail and client_addr show it apart.
func AuditRecordProto(r audit.Record) *homeplanev1.AuditRecord {
	intent, slots := r.Shown()
	action, detail, addr := r.Security()
	p := &homeplanev1.AuditRecord{
		Id: r.ID, RequestId: r.RequestID, Time: timestamp(r.Time), Kind: r.Kind, UserId: r.UserID, HomeId: r.HomeID,
		DeviceId: r.DeviceID, Text: r.Text, Intent: intent, Parser: r.Parser, Outcome: r.Outcome, Error: r.Error,
		LatencyUs: r.TotalUS, ParseUs: r.ParseUS, ResolveUs: r.ResolveUS, ExecuteUs: r.ExecuteUS, LlmTokens: int32(r.LLMTokens),
		Action: action,
	}
	if addr.IsValid() {
		p.ClientAddr = addr.String()
	}
	if len(slots) > 0 {
		if s, err := structpb.NewStruct(slots); err == nil {
			p.Slots = s
		}
	}
	if len(detail) > 0 {
		if s, err := structpb.NewStruct(detail); err == nil {
			p.Detail = s
		}
	}
	if m, ok := r.Executed.(map[string]any); ok {
		if s, err := structpb.NewStruct(m); err == nil {
			p.Executed = s
		}
	}
	if b, err := audit.CanonicalJSON(r.Executed); err == nil {
		p.ExecutedJson = string(b)
	}
	if b, err := audit.CanonicalJSON(r.Answer); err == nil {
		p.AnswerJson = string(b)
	}
	return p
}

func (a *adminService) GetUsageReport(ctx context.Context, req *connect.Request[homeplanev1.GetUsageReportRequest]) (*connect.Response[homeplanev1.GetUsageReportResponse], error) {
	d, err := a.deps()
	if err != nil {
		return nil, err
	}
	if req.Msg.Since == nil || req.Msg.Until == nil {
		return nil, invalidArgument("since and until are required")
	}
	var c check
	c.instant("since", req.Msg.GetSince())
	c.instant("until", req.Msg.GetUntil())
	if err := c.err(); err != nil {
		return nil, err
	}
	lines, err := d.Usage.Report(ctx, req.Msg.GetSince().AsTime(), req.Msg.GetUntil().AsTime())
	if err != nil {
		return nil, err
	}
	resp := &homeplanev1.GetUsageReportResponse{Currency: d.Usage.Currency()}
	for _, l := range lines {
		resp.Lines = append(resp.Lines, &homeplanev1.UsageLine{UserId: l.UserID, Email: l.Email, HomeId: l.HomeID,
			CpuCoreHours: l.CPUCoreHours, MemoryGibHours: l.MemoryGiBHours, Intents: l.Intents, Price: l.Price})
	}
	return connect.NewResponse(resp), nil
}

func (a *adminService) SetInstanceLimits(ctx context.Context, req *connect.Request[homeplanev1.SetInstanceLimitsRequest]) (*connect.Response[homeplanev1.SetInstanceLimitsResponse], error) {
	lim := a.s.deps.Limits
	if lim == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errInstanceUnavailable)
	}
	m := req.Msg
	var c check
	c.field("home_id", m.GetHomeId(), true, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	auditing(ctx).HomeID = m.GetHomeId() // from here on the change is audited
	delivered, err := lim.Set(ctx, m.GetHomeId(), m.GetLimits())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.SetInstanceLimitsResponse{Limits: m.GetLimits(), Delivered: delivered}), nil
}
