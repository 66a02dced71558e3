package enroll

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"

	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
)

// fakeCentral answers Enroll for one good token.
type fakeCentral struct {
	homeplanev1connect.UnimplementedAgentServiceHandler
	resp *homeplanev1.EnrollResponse
	got  *homeplanev1.EnrollRequest
}

func (f *fakeCentral) Enroll(_ context.Context, req *connect.Request[homeplanev1.EnrollRequest]) (*connect.Response[homeplanev1.EnrollResponse], error) {
	f.got = req.Msg
	switch req.Msg.GetToken() {
	case "good":
		return connect.NewResponse(f.resp), nil
	case "broken":
		return nil, connect.NewError(connect.CodeInternal, errors.New("database down"))
	}
	return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid enrollment token"))
}

func serve(tb testing.TB, f *fakeCentral) string {
	tb.Helper()
	mux := http.NewServeMux()
	mux.Handle(homeplanev1connect.NewAgentServiceHandler(f))
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	return srv.URL
}

func goodResponse() *homeplanev1.EnrollResponse {
	return &homeplanev1.EnrollResponse{
		AgentId:      "agent-1",
		HomeId:       "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b",
		MqttUsername: "agent-1",
		MqttPassword: "secret",
		MqttUrl:      "tcp://broker:1883",
	}
}

func TestEnroll(t *testing.T) {
	f := &fakeCentral{resp: goodResponse()}
	url := serve(t, f)
	id, err := Enroll(context.Background(), url, " good\n", "host-a", "1.2.3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if id.AgentID != "agent-1" || id.HomeID != goodResponse().HomeId || id.MQTTPassword != "secret" ||
		id.MQTTURL != "tcp://broker:1883" || id.CentralURL != url || id.EnrolledAt.IsZero() {
		t.Fatalf("identity = %+v", id)
	}
	if f.got.GetHostname() != "host-a" || f.got.GetAgentVersion() != "1.2.3" || f.got.GetToken() != "good" {
		t.Fatalf("central got %v", f.got)
	}
}

func TestEnrollErrors(t *testing.T) {
	bad := goodResponse()
	bad.HomeId = "../other"
	cases := []struct {
		name  string
		token string
		resp  *homeplanev1.EnrollResponse
		url   string
		want  error
	}{
		{"rejected token", "used", goodResponse(), "", ErrTokenRejected},
		{"empty token", "  ", goodResponse(), "", ErrTokenRejected},
		{"central fails", "broken", goodResponse(), "", ErrUnavailable},
		{"bad identity", "good", bad, "", ErrBadResponse},
		{"unreachable", "good", goodResponse(), "http://127.0.0.1:1", ErrUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			if url == "" {
				url = serve(t, &fakeCentral{resp: c.resp})
			}
			_, err := Enroll(context.Background(), url, c.token, "h", "v", nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("Enroll = %v, want %v", err, c.want)
			}
		})
	}
}
