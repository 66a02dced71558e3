package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/pack"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// homeService serves HomeService. Every call is scoped by the caller's user
// id; the home service answers home.ErrNotFound for someone else's home just
// as for a missing one. GetInstance and ControlInstance live in instance.go.
type homeService struct {
	homeplanev1connect.UnimplementedHomeServiceHandler
	s *server
}

var _ homeplanev1connect.HomeServiceHandler = (*homeService)(nil)

// userOf returns the id of the user calling. The interceptor admits only
// users to these procedures; the check stays here so a policy mistake fails
// closed.
func userOf(ctx context.Context) (string, error) {
	c, ok := CallerFrom(ctx)
	if !ok || c.IsDevice() || c.UserID == "" {
		return "", connect.NewError(connect.CodePermissionDenied, errDenied)
	}
	return c.UserID, nil
}

// userAndHome returns the calling user and the checked home id of a request.
func userAndHome(ctx context.Context, homeID string) (string, error) {
	var c check
	c.field("home_id", homeID, true, maxIDChars)
	if err := c.err(); err != nil {
		return "", err
	}
	return userOf(ctx)
}

func (h *homeService) CreateHome(ctx context.Context, req *connect.Request[homeplanev1.CreateHomeRequest]) (*connect.Response[homeplanev1.CreateHomeResponse], error) {
	var c check
	c.field("name", req.Msg.GetName(), true, maxNameChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	created, err := h.s.deps.Homes.Create(ctx, owner, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.CreateHomeResponse{Home: homeProto(created, h.s.deps.Presence)}), nil
}

func (h *homeService) ListHomes(ctx context.Context, _ *connect.Request[homeplanev1.ListHomesRequest]) (*connect.Response[homeplanev1.ListHomesResponse], error) {
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	homes, err := h.s.deps.Homes.List(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := make([]*homeplanev1.Home, 0, len(homes))
	for _, hm := range homes {
		out = append(out, homeProto(hm, h.s.deps.Presence))
	}
	return connect.NewResponse(&homeplanev1.ListHomesResponse{Homes: out}), nil
}

func (h *homeService) GetHome(ctx context.Context, req *connect.Request[homeplanev1.GetHomeRequest]) (*connect.Response[homeplanev1.GetHomeResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	got, err := h.s.deps.Homes.Get(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.GetHomeResponse{Home: homeProto(got, h.s.deps.Presence)}), nil
}

func (h *homeService) DeleteHome(ctx context.Context, req *connect.Request[homeplanev1.DeleteHomeRequest]) (*connect.Response[homeplanev1.DeleteHomeResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	if err := h.release(ctx, owner, req.Msg.GetHomeId()); err != nil {
		return nil, err
	}
	if err := h.s.deps.Homes.Delete(ctx, owner, req.Msg.GetHomeId()); err != nil {
		return nil, err
	}
	h.s.streams.homeDeleted(req.Msg.GetHomeId())
	return connect.NewResponse(&homeplanev1.DeleteHomeResponse{}), nil
}

func (h *homeService) CreateEnrollmentToken(ctx context.Context, req *connect.Request[homeplanev1.CreateEnrollmentTokenRequest]) (*connect.Response[homeplanev1.CreateEnrollmentTokenResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	ttl, err := enrollmentTTL(req.Msg)
	if err != nil {
		return nil, err
	}
	token, expires, err := h.s.deps.Homes.CreateEnrollmentToken(ctx, owner, req.Msg.GetHomeId(), ttl)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.CreateEnrollmentTokenResponse{Token: token, ExpiresAt: timestamp(expires)}), nil
}

// enrollmentTTL is the requested lifetime; 0 when none is given, which
// leaves the default to the home service, which also enforces the bounds.
func enrollmentTTL(m *homeplanev1.CreateEnrollmentTokenRequest) (time.Duration, error) {
	if m.GetTtl() == nil {
		return 0, nil
	}
	if err := m.GetTtl().CheckValid(); err != nil || m.GetTtl().AsDuration() <= 0 {
		return 0, connect.NewError(connect.CodeInvalidArgument, errors.New("ttl must be a positive duration"))
	}
	return m.GetTtl().AsDuration(), nil
}

func (h *homeService) RegisterDevice(ctx context.Context, req *connect.Request[homeplanev1.RegisterDeviceRequest]) (*connect.Response[homeplanev1.RegisterDeviceResponse], error) {
	m := req.Msg
	var c check
	c.field("home_id", m.GetHomeId(), true, maxIDChars)
	c.field("name", m.GetName(), true, maxNameChars)
	c.field("area", m.GetArea(), false, maxNameChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	d, token, err := h.s.deps.Homes.RegisterDevice(ctx, owner, m.GetHomeId(), m.GetName(), m.GetArea())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&homeplanev1.RegisterDeviceResponse{Device: deviceProto(d), Token: token}), nil
}

func (h *homeService) ListDevices(ctx context.Context, req *connect.Request[homeplanev1.ListDevicesRequest]) (*connect.Response[homeplanev1.ListDevicesResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	devices, err := h.s.deps.Homes.ListDevices(ctx, owner, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	out := make([]*homeplanev1.Device, 0, len(devices))
	for _, d := range devices {
		out = append(out, deviceProto(d))
	}
	return connect.NewResponse(&homeplanev1.ListDevicesResponse{Devices: out}), nil
}

func (h *homeService) RevokeDevice(ctx context.Context, req *connect.Request[homeplanev1.RevokeDeviceRequest]) (*connect.Response[homeplanev1.RevokeDeviceResponse], error) {
	var c check
	c.field("home_id", req.Msg.GetHomeId(), true, maxIDChars)
	c.field("device_id", req.Msg.GetDeviceId(), true, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.s.deps.Homes.RevokeDevice(ctx, owner, req.Msg.GetHomeId(), req.Msg.GetDeviceId()); err != nil {
		return nil, err
	}
	h.s.streams.deviceRevoked(req.Msg.GetDeviceId())
	return connect.NewResponse(&homeplanev1.RevokeDeviceResponse{}), nil
}

func (h *homeService) ListEntities(ctx context.Context, req *connect.Request[homeplanev1.ListEntitiesRequest]) (*connect.Response[homeplanev1.ListEntitiesResponse], error) {
	owner, err := userAndHome(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	// The registry is keyed by home only, so ownership is checked first.
	if _, err := h.s.deps.Homes.Get(ctx, owner, req.Msg.GetHomeId()); err != nil {
		return nil, err
	}
	snap, err := h.s.deps.Entities.Snapshot(ctx, req.Msg.GetHomeId())
	if err != nil {
		return nil, err
	}
	out := &homeplanev1.ListEntitiesResponse{}
	if snap != nil {
		// The cached entities are packed (ADR 0054); the response carries
		// them decoded, so that its JSON form shows their attributes.
		out.Entities = make([]*homeplanev1.Entity, len(snap.Entities))
		for i, e := range snap.Entities {
			out.Entities[i] = pack.Unpack(e)
		}
		out.Areas, out.Floors = snap.Areas, snap.Floors
		if !snap.SyncedAt.IsZero() {
			out.SyncedAt = timestamppb.New(snap.SyncedAt)
		}
	}
	return connect.NewResponse(out), nil
}

// release tells the agent of an owned home, if it is online, that the home
// is released, before it is deleted or its agent revoked: a hosting agent
// removes the container (ADR 0033).
func (h *homeService) release(ctx context.Context, owner, homeID string) error {
	if h.s.deps.Limits == nil {
		return nil
	}
	got, err := h.s.deps.Homes.Get(ctx, owner, homeID)
	if err != nil {
		return err
	}
	h.s.deps.Limits.Release(ctx, got.ID)
	return nil
}
