package enroll

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

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

func TestEnrollKeepsCentralsMessage(t *testing.T) {
	url := serve(t, &fakeCentral{resp: goodResponse()})
	_, err := Enroll(context.Background(), url, "used", "h", "v", nil)
	if !errors.Is(err, ErrTokenRejected) || !strings.Contains(err.Error(), "unauthenticated: invalid enrollment token") {
		t.Fatalf("Enroll = %v, want central's code and message", err)
	}
}

// TestEnrollOddAnswers covers answers that are not what a Connect handler
// sends: a proxy in the way, a wrong path, oversized or garbled bodies.
func TestEnrollOddAnswers(t *testing.T) {
	good, _ := proto.Marshal(goodResponse())
	cases := []struct {
		name        string
		status      int
		contentType string
		body        []byte
		want        error
		wantText    string
	}{
		{"proxy page", http.StatusBadGateway, "text/html", []byte("<h1>Bad Gateway</h1>"), ErrUnavailable, "unavailable: 502 Bad Gateway"},
		{"no such procedure", http.StatusNotFound, "text/plain", []byte("404 page not found"), ErrUnavailable, "unimplemented"},
		{"bare 401", http.StatusUnauthorized, "", nil, ErrTokenRejected, "unauthenticated"},
		{"JSON that is not a Connect error", http.StatusInternalServerError, "application/json", []byte(`{"oops":1}`), ErrUnavailable, "unknown"},
		{"oversized", http.StatusOK, "application/proto", bytes.Repeat([]byte{0}, maxResponseBytes+1), ErrBadResponse, "larger than"},
		{"wrong content type", http.StatusOK, "application/json", []byte(`{"agentId":"a"}`), ErrBadResponse, "not application/proto"},
		{"garbled message", http.StatusOK, "application/proto", []byte{0x0a, 0xff, 0x01}, ErrBadResponse, ""},
		{"good answer", http.StatusOK, "application/proto", good, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != procedure || r.Header.Get("Content-Type") != "application/proto" {
					t.Errorf("request %s %s %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
				}
				if c.contentType != "" {
					w.Header().Set("Content-Type", c.contentType)
				}
				w.WriteHeader(c.status)
				w.Write(c.body)
			}))
			defer srv.Close()
			_, err := Enroll(context.Background(), srv.URL, "good", "h", "v", nil)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Enroll = %v, want %v", err, c.want)
			}
			if err != nil && !strings.Contains(err.Error(), c.wantText) {
				t.Fatalf("Enroll = %v, want it to say %q", err, c.wantText)
			}
		})
	}
}

func TestEnrollCanceled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Enroll(ctx, srv.URL, "good", "h", "v", nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Enroll = %v, want the context's error", err)
	}
}
