package rpc

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/central/internal/usage"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

// DailyUsage prices use per day for a scope (usage.Reporter).
type DailyUsage interface {
	Daily(ctx context.Context, since, until time.Time, s usage.Scope) ([]usage.Day, error)
	Currency() string
}

var errUsageUnavailable = errors.New("usage is not configured on this server")

// GetUsage answers the caller's own use: the scope always carries the
// caller, so another's home has no use, and is NotFound before that.
func (h *homeService) GetUsage(ctx context.Context, req *connect.Request[homeplanev1.GetUsageRequest]) (*connect.Response[homeplanev1.GetUsageResponse], error) {
	m := req.Msg
	var c check
	c.field("home_id", m.GetHomeId(), false, maxIDChars)
	if err := c.err(); err != nil {
		return nil, err
	}
	// By default the current month so far, as the dashboard shows it.
	now := h.s.now().UTC()
	since, until := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), now
	if m.Since != nil {
		since = m.GetSince().AsTime()
	}
	if m.Until != nil {
		until = m.GetUntil().AsTime()
	}
	owner, err := userOf(ctx)
	if err != nil {
		return nil, err
	}
	if m.GetHomeId() != "" {
		if _, err := h.s.deps.Homes.Get(ctx, owner, m.GetHomeId()); err != nil {
			return nil, err
		}
	}
	if h.s.deps.Usage == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errUsageUnavailable)
	}
	days, err := h.s.deps.Usage.Daily(ctx, since, until, usage.Scope{UserID: owner, HomeID: m.GetHomeId()})
	if err != nil {
		return nil, err
	}
	resp := &homeplanev1.GetUsageResponse{Currency: h.s.deps.Usage.Currency()}
	for _, d := range days {
		resp.Days = append(resp.Days, &homeplanev1.UsageDay{Day: timestamppb.New(d.Day), CpuCoreHours: d.CPUCoreHours,
			MemoryGibHours: d.MemoryGiBHours, Intents: d.Intents, Price: d.Price})
	}
	return connect.NewResponse(resp), nil
}
