package main

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/identity"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/gen/homeplane/v1/homeplanev1connect"
	"github.com/homeplane/homeplane/protocol/topic"
)

const (
	e2eHome  = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"
	e2eAgent = "7c0e5d3a-2f1b-4c8d-9e6f-a1b2c3d4e5f6"
)

// fakeCentral is central's enrollment endpoint, counting enrollments.
type fakeCentral struct {
	homeplanev1connect.UnimplementedAgentServiceHandler
	mqttURL string
	enrolls atomic.Int32
}

func (f *fakeCentral) Enroll(_ context.Context, req *connect.Request[homeplanev1.EnrollRequest]) (*connect.Response[homeplanev1.EnrollResponse], error) {
	if req.Msg.GetToken() != "one-time" || f.enrolls.Add(1) > 1 {
		return nil, connect.NewError(connect.CodeUnauthenticated, nil)
	}
	return connect.NewResponse(&homeplanev1.EnrollResponse{
		AgentId: e2eAgent, HomeId: e2eHome, MqttUsername: e2eAgent, MqttPassword: "secret", MqttUrl: f.mqttURL,
	}), nil
}

// wire records what the agent publishes, as central would see it.
type wire struct {
	mu      sync.Mutex
	syncs   []*homeplanev1.EntitySync
	results []*homeplanev1.Result
}

func (w *wire) snapshot() ([]*homeplanev1.EntitySync, []*homeplanev1.Result) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*homeplanev1.EntitySync(nil), w.syncs...), append([]*homeplanev1.Result(nil), w.results...)
}

func startE2EBroker(tb testing.TB) (*mqtt.Server, string, *wire) {
	tb.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		tb.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "tcp", Address: "127.0.0.1:0"})
	if err := srv.AddListener(l); err != nil {
		tb.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	w := &wire{}
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(srv.Subscribe(topic.For(e2eHome, topic.Entities), 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var m homeplanev1.EntitySync
		if proto.Unmarshal(pk.Payload, &m) == nil {
			w.mu.Lock()
			w.syncs = append(w.syncs, &m)
			w.mu.Unlock()
		}
	}))
	must(srv.Subscribe(topic.For(e2eHome, topic.Result), 2, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		var m homeplanev1.Result
		if proto.Unmarshal(pk.Payload, &m) == nil {
			w.mu.Lock()
			w.results = append(w.results, &m)
			w.mu.Unlock()
		}
	}))
	return srv, "tcp://" + l.Address(), w
}

func presence(tb testing.TB, srv *mqtt.Server) *homeplanev1.Presence {
	tb.Helper()
	msgs := srv.Topics.Messages(topic.For(e2eHome, topic.Presence))
	if len(msgs) == 0 {
		return nil
	}
	var p homeplanev1.Presence
	if err := proto.Unmarshal(msgs[0].Payload, &p); err != nil {
		tb.Fatal(err)
	}
	return &p
}

// lockedBuffer collects the agent's logs, shown when the test fails.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func startAgent(tb testing.TB, args []string) (stop func() error) {
	tb.Helper()
	logs := &lockedBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			logs.mu.Lock()
			tb.Logf("agent logs:\n%s", logs.b.String())
			logs.mu.Unlock()
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, logs) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				tb.Error("agent did not stop")
			}
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

func TestAgentEndToEnd(t *testing.T) {
	srv, mqttURL, w := startE2EBroker(t)
	sim := hasim.New(nil, hasim.Options{Token: "ha-token"})
	haSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(haSrv.Close)
	central := &fakeCentral{mqttURL: mqttURL}
	mux := http.NewServeMux()
	mux.Handle(homeplanev1connect.NewAgentServiceHandler(central))
	centralSrv := httptest.NewServer(mux)
	t.Cleanup(centralSrv.Close)
	stateDir := filepath.Join(t.TempDir(), "state")

	args := []string{"--central-url", centralSrv.URL, "--ha-url", haSrv.URL, "--ha-token", "ha-token",
		"--state-dir", stateDir, "--log-level", "debug"}
	metricsAddr := freeAddr(t)
	stop := startAgent(t, append(args, "--enrollment-token", "one-time", "--metrics-addr", metricsAddr))

	eventually(t, "presence online", func() bool { p := presence(t, srv); return p != nil && p.GetOnline() })
	if p := presence(t, srv); p.GetHomeAssistantVersion() != hasim.DefaultVersion || p.GetAgentId() != e2eAgent {
		t.Fatalf("presence = %v", p)
	}
	if st, err := os.Stat(filepath.Join(stateDir, identity.FileName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v, %v", st, err)
	}
	eventually(t, "full entity sync", func() bool {
		syncs, _ := w.snapshot()
		return len(syncs) > 0 && syncs[0].GetFull() && len(syncs[0].GetEntities()) > 5 && len(syncs[0].GetAreas()) > 0
	})

	cmd := &homeplanev1.Command{
		Id: "cmd-1", RequestId: "req-1", Deadline: timestamppb.New(time.Now().Add(30 * time.Second)),
		Calls: []*homeplanev1.ServiceCall{{Domain: "light", Service: "turn_on", EntityIds: []string{"light.kitchen_ceiling"}}},
	}
	payload, _ := proto.Marshal(cmd)
	if err := srv.Publish(topic.For(e2eHome, topic.Command), payload, false, 1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "result", func() bool { _, rs := w.snapshot(); return len(rs) == 1 })
	_, rs := w.snapshot()
	if r := rs[0]; !r.GetOk() || r.GetRequestId() != "req-1" {
		t.Fatalf("result = %v", r)
	}
	if st, _ := sim.State("light.kitchen_ceiling"); st.State != "on" {
		t.Fatalf("light is %q after turn_on", st.State)
	}
	// The metrics address tells what happened, in a form Prometheus reads.
	mfs := scrape(t, "http://"+metricsAddr+"/metrics")
	for name, want := range map[string]float64{
		"homeplane_agent_mqtt_connected":               1,
		"homeplane_agent_mqtt_commands_received_total": 1,
		"homeplane_agent_commands_total":               1,
	} {
		var got float64
		for _, m := range mfs[name].GetMetric() {
			got += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if mfs["process_resident_memory_bytes"] == nil || mfs["homeplane_agent_service_call_seconds"] == nil {
		t.Errorf("runtime or histogram families missing from /metrics: %v", slices.Collect(maps.Keys(mfs)))
	}
	if resp, err := http.Get("http://" + metricsAddr + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz while connected: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// A change made in Home Assistant reaches central as a delta.
	if _, err := sim.SetState("switch.coffee_maker", "on", nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delta for the coffee maker", func() bool {
		syncs, _ := w.snapshot()
		for _, s := range syncs {
			for _, e := range s.GetEntities() {
				if !s.GetFull() && e.GetEntityId() == "switch.coffee_maker" && e.GetState() == "on" && e.GetAreaId() == "kitchen" {
					return true
				}
			}
		}
		return false
	})

	if err := stop(); err != nil {
		t.Fatalf("run = %v", err)
	}
	if p := presence(t, srv); p == nil || p.GetOnline() {
		t.Fatalf("after shutdown presence = %v, want offline", p)
	}

	// Restarting never re-enrolls: no token now, and central would refuse it anyway.
	stop = startAgent(t, args)
	eventually(t, "online again", func() bool { p := presence(t, srv); return p != nil && p.GetOnline() })
	if err := stop(); err != nil {
		t.Fatalf("second run = %v", err)
	}
	if n := central.enrolls.Load(); n != 1 {
		t.Fatalf("enrolled %d times, want once", n)
	}
}

func TestAgentNeedsTokenWhenNotEnrolled(t *testing.T) {
	err := run(context.Background(), []string{"--ha-token", "t", "--state-dir", t.TempDir()},
		func(string) string { return "" }, &lockedBuffer{})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("enrollment-token")) {
		t.Fatalf("run = %v, want an error naming --enrollment-token", err)
	}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// scrape reads a metrics endpoint with the Prometheus text parser.
func scrape(tb testing.TB, url string) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return mfs
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
