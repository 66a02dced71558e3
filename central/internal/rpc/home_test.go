package rpc

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"

	"github.com/homeplane/homeplane/central/internal/audit"
	"github.com/homeplane/homeplane/central/internal/rpc/rpctest"
)

func TestHomeFlow(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.clients(p.opts...)
			ctx := context.Background()
			tok := accessToken(e.alice)

			created, err := c.home.CreateHome(ctx, as(tok, &homeplanev1.CreateHomeRequest{Name: "Cabin"}))
			if err != nil {
				t.Fatal(err)
			}
			id := created.Msg.GetHome().GetId()
			if created.Msg.GetHome().GetName() != "Cabin" || id == "" {
				t.Fatalf("create answered %v", created.Msg)
			}
			list, err := c.home.ListHomes(ctx, as(tok, &homeplanev1.ListHomesRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(list.Msg.GetHomes()); n != 2 {
				t.Fatalf("alice sees %d homes, want 2", n)
			}
			got, err := c.home.GetHome(ctx, as(tok, &homeplanev1.GetHomeRequest{HomeId: e.aliceHome.ID}))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Msg.GetHome().GetOnline() || got.Msg.GetHome().GetLastSeen().AsTime().Unix() != 1700000100 {
				t.Errorf("presence not reported: %v", got.Msg.GetHome())
			}

			enr, err := c.home.CreateEnrollmentToken(ctx, as(tok, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: id}))
			if err != nil {
				t.Fatal(err)
			}
			if until := time.Until(enr.Msg.GetExpiresAt().AsTime()); until < 59*time.Minute || until > time.Hour {
				t.Errorf("default enrollment token lives %v, want 1h", until)
			}
			_, err = c.home.CreateEnrollmentToken(ctx, as(tok, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: id, Ttl: durationpb.New(8 * 24 * time.Hour)}))
			wantCode(t, err, connect.CodeInvalidArgument)
			agent, err := c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: enr.Msg.GetToken(), Hostname: "pi", AgentVersion: "1.0"}))
			if err != nil {
				t.Fatal(err)
			}
			if agent.Msg.GetHomeId() != id || agent.Msg.GetMqttUsername() != agent.Msg.GetAgentId() || agent.Msg.GetMqttPassword() == "" || agent.Msg.GetMqttUrl() != "mqtts://broker.example:8883" {
				t.Errorf("enroll answered %v", agent.Msg)
			}
			_, err = c.agent.Enroll(ctx, as("", &homeplanev1.EnrollRequest{Token: enr.Msg.GetToken()}))
			wantCode(t, err, connect.CodeUnauthenticated)

			dev, err := c.home.RegisterDevice(ctx, as(tok, &homeplanev1.RegisterDeviceRequest{HomeId: id, Name: "Hall", Area: "hall"}))
			if err != nil {
				t.Fatal(err)
			}
			if dev.Msg.GetToken() == "" || dev.Msg.GetDevice().GetArea() != "hall" {
				t.Errorf("register device answered %v", dev.Msg)
			}
			devs, err := c.home.ListDevices(ctx, as(tok, &homeplanev1.ListDevicesRequest{HomeId: id}))
			if err != nil {
				t.Fatal(err)
			}
			if len(devs.Msg.GetDevices()) != 1 || devs.Msg.GetDevices()[0].GetId() != dev.Msg.GetDevice().GetId() {
				t.Errorf("list devices answered %v", devs.Msg)
			}
			if _, err := c.home.RevokeDevice(ctx, as(tok, &homeplanev1.RevokeDeviceRequest{HomeId: id, DeviceId: dev.Msg.GetDevice().GetId()})); err != nil {
				t.Fatal(err)
			}
			_, err = c.intent.Process(ctx, as(dev.Msg.GetToken(), processMsg("hello", "")))
			wantCode(t, err, connect.CodeUnauthenticated)

			ents, err := c.home.ListEntities(ctx, as(tok, &homeplanev1.ListEntitiesRequest{HomeId: id}))
			if err != nil {
				t.Fatal(err)
			}
			// The registry caches entities packed; the answer carries
			// their attributes and last_changed in every protocol.
			if es := ents.Msg.GetEntities(); len(es) != 1 || !proto.Equal(es[0], rpctest.KitchenLight(id)) {
				t.Errorf("list entities answered %v, want %v", ents.Msg, rpctest.KitchenLight(id))
			}
			if _, err := c.home.DeleteHome(ctx, as(tok, &homeplanev1.DeleteHomeRequest{HomeId: id})); err != nil {
				t.Fatal(err)
			}
			_, err = c.home.GetHome(ctx, as(tok, &homeplanev1.GetHomeRequest{HomeId: id}))
			wantCode(t, err, connect.CodeNotFound)
		})
	}
}

// TestOtherUsersHomeIsNotFound names bob's home as alice in every RPC that
// takes a home id: each answers NotFound with the same message as a home
// that does not exist, and bob's home is untouched.
func TestOtherUsersHomeIsNotFound(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients(connect.WithProtoJSON())
	ctx := context.Background()
	tok := accessToken(e.alice)
	calls := []struct {
		name string
		call func(homeID string) error
	}{
		{"GetHome", func(id string) error {
			_, err := c.home.GetHome(ctx, as(tok, &homeplanev1.GetHomeRequest{HomeId: id}))
			return err
		}},
		{"DeleteHome", func(id string) error {
			_, err := c.home.DeleteHome(ctx, as(tok, &homeplanev1.DeleteHomeRequest{HomeId: id}))
			return err
		}},
		{"CreateEnrollmentToken", func(id string) error {
			_, err := c.home.CreateEnrollmentToken(ctx, as(tok, &homeplanev1.CreateEnrollmentTokenRequest{HomeId: id}))
			return err
		}},
		{"RegisterDevice", func(id string) error {
			_, err := c.home.RegisterDevice(ctx, as(tok, &homeplanev1.RegisterDeviceRequest{HomeId: id, Name: "spy", Area: "hall"}))
			return err
		}},
		{"ListDevices", func(id string) error {
			_, err := c.home.ListDevices(ctx, as(tok, &homeplanev1.ListDevicesRequest{HomeId: id}))
			return err
		}},
		{"RevokeDevice", func(id string) error {
			_, err := c.home.RevokeDevice(ctx, as(tok, &homeplanev1.RevokeDeviceRequest{HomeId: id, DeviceId: e.device.ID}))
			return err
		}},
		{"ListEntities", func(id string) error {
			_, err := c.home.ListEntities(ctx, as(tok, &homeplanev1.ListEntitiesRequest{HomeId: id}))
			return err
		}},
		{"Process", func(id string) error {
			_, err := c.intent.Process(ctx, as(tok, processMsg("turn on the lights", id)))
			return err
		}},
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			other := tt.call(e.bobHome.ID)
			wantCode(t, other, connect.CodeNotFound)
			missing := tt.call("home-does-not-exist")
			wantCode(t, missing, connect.CodeNotFound)
			// The messages may only differ by the id the caller sent.
			om := strings.ReplaceAll(errMessage(other), e.bobHome.ID, "ID")
			mm := strings.ReplaceAll(errMessage(missing), "home-does-not-exist", "ID")
			if om != mm {
				t.Errorf("someone else's home answers %q, a missing one %q", om, mm)
			}
		})
	}
	if _, err := e.homes.Get(ctx, e.bob.ID, e.bobHome.ID); err != nil {
		t.Errorf("bob's home was touched: %v", err)
	}
	if n := len(e.intents.Requests()); n != 0 {
		t.Errorf("engine ran %d requests for a home alice does not own", n)
	}
	// Both refused Process calls are audited, attached to no home.
	recs := e.auditor.Records()
	if len(recs) != 2 {
		t.Fatalf("%d audit records, want 2", len(recs))
	}
	for _, r := range recs {
		if r.Outcome != audit.OutcomeRejected || r.HomeID != "" || r.UserID != e.alice.ID || r.RequestID == "" {
			t.Errorf("audit record %+v", r)
		}
	}
}

func TestDeviceMayOnlyProcessItsOwnHome(t *testing.T) {
	e := newTestEnv(t)
	c := e.clients()
	ctx := context.Background()
	tok := e.deviceToken

	denied := []struct {
		name string
		call func() error
	}{
		{"ListHomes", func() error {
			_, err := c.home.ListHomes(ctx, as(tok, &homeplanev1.ListHomesRequest{}))
			return err
		}},
		{"GetHome own", func() error {
			_, err := c.home.GetHome(ctx, as(tok, &homeplanev1.GetHomeRequest{HomeId: e.aliceHome.ID}))
			return err
		}},
		{"RegisterDevice", func() error {
			_, err := c.home.RegisterDevice(ctx, as(tok, &homeplanev1.RegisterDeviceRequest{HomeId: e.aliceHome.ID, Name: "x"}))
			return err
		}},
		{"ListEntities", func() error {
			_, err := c.home.ListEntities(ctx, as(tok, &homeplanev1.ListEntitiesRequest{HomeId: e.aliceHome.ID}))
			return err
		}},
		{"ChangePassword", func() error {
			_, err := c.auth.ChangePassword(ctx, as(tok, &homeplanev1.ChangePasswordRequest{}))
			return err
		}},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.call(), connect.CodePermissionDenied)
		})
	}

	// The device names bob's home: the request still runs in its own home, in its area.
	resp, err := c.intent.Process(ctx, as(tok, processMsg("turn on the lights in here", e.bobHome.ID)))
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.intents.Requests()
	if len(reqs) != 1 {
		t.Fatalf("engine got %d requests, want 1", len(reqs))
	}
	if reqs[0].HomeID != e.aliceHome.ID || reqs[0].Context.Area != "kitchen" {
		t.Errorf("engine ran in home %q area %q, want %q %q", reqs[0].HomeID, reqs[0].Context.Area, e.aliceHome.ID, "kitchen")
	}
	recs := recordsOf(e, audit.KindIntent)
	if len(recs) != 1 || recs[0].DeviceID != e.device.ID || recs[0].HomeID != e.aliceHome.ID || recs[0].UserID != "" {
		t.Fatalf("audit records %+v", recs)
	}
	if resp.Msg.GetRequestId() != recs[0].RequestID {
		t.Errorf("response request id %q, audited %q", resp.Msg.GetRequestId(), recs[0].RequestID)
	}
}
