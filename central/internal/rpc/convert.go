package rpc

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/auth"
	"github.com/homeplane/homeplane/central/internal/home"
	"github.com/homeplane/homeplane/central/internal/intent"
)

// timestamp converts t, leaving the zero time unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func userProto(u auth.User) *homeplanev1.User {
	return &homeplanev1.User{
		Id:        u.ID,
		Email:     u.Email,
		Role:      u.Role,
		Disabled:  u.Disabled,
		CreatedAt: timestamp(u.CreatedAt),
	}
}

func tokensProto(t auth.Tokens) *homeplanev1.Tokens {
	return &homeplanev1.Tokens{
		AccessToken:      t.Access,
		AccessExpiresAt:  timestamp(t.AccessExpires),
		RefreshToken:     t.Refresh,
		RefreshExpiresAt: timestamp(t.RefreshExpires),
	}
}

// homeProto converts h, with online and last_seen from presence (nil means
// offline, never seen).
func homeProto(h home.Home, presence Presence) *homeplanev1.Home {
	p := &homeplanev1.Home{
		Id:        h.ID,
		Name:      h.Name,
		CreatedAt: timestamp(h.CreatedAt),
		Enrolled:  h.Enrolled,
	}
	for wire, hp := range sensitivePolicies {
		if hp == h.SensitivePolicy {
			p.SensitivePolicy = wire
		}
	}
	if presence != nil {
		p.Online = presence.Online(h.ID)
		if seen, ok := presence.LastSeen(h.ID); ok {
			p.LastSeen = timestamp(seen)
		}
	}
	return p
}

func deviceProto(d home.Device) *homeplanev1.Device {
	return &homeplanev1.Device{
		Id:        d.ID,
		HomeId:    d.HomeID,
		Name:      d.Name,
		Area:      d.Area,
		CreatedAt: timestamp(d.CreatedAt),
		Revoked:   d.Revoked,
	}
}

// slotsProto converts intent slots into a Struct. A value Struct cannot hold
// as is (an int type structpb does not know, a typed slice) is sent as its
// string form rather than failing the whole answer.
func slotsProto(slots map[string]any) *structpb.Struct {
	if len(slots) == 0 {
		return nil
	}
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(slots))}
	for k, v := range slots {
		pv, err := structpb.NewValue(v)
		if err != nil {
			pv = structpb.NewStringValue(fmt.Sprint(v))
		}
		s.Fields[k] = pv
	}
	return s
}

func targetsProto(ts []intent.Target) []*homeplanev1.Target {
	out := make([]*homeplanev1.Target, 0, len(ts))
	for _, t := range ts {
		out = append(out, &homeplanev1.Target{
			EntityId: t.EntityID,
			Name:     t.Name,
			Area:     t.Area,
			Domain:   t.Domain,
			State:    t.State,
		})
	}
	return out
}
