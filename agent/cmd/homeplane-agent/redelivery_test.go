package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/identity"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
)

// A toggle shows how often it ran: twice puts the light back.
func TestCommandRunsOnceAcrossRestart(t *testing.T) {
	srv, mqttURL, w := startE2EBroker(t)
	sim := hasim.New(nil, hasim.Options{Token: "ha-token"})
	haSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(haSrv.Close)
	stateDir := filepath.Join(t.TempDir(), "state")
	err := identity.Save(stateDir, identity.Identity{AgentID: e2eAgent, HomeID: e2eHome, MQTTUsername: e2eAgent,
		MQTTPassword: "secret", MQTTURL: mqttURL, CentralURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--ha-url", haSrv.URL, "--ha-token", "ha-token", "--state-dir", stateDir}
	const light = "light.kitchen_ceiling"
	initial, _ := sim.State(light)
	cmd := &homeplanev1.Command{
		Id: "toggle-1", RequestId: "req-toggle", Deadline: timestamppb.New(time.Now().Add(time.Minute)),
		Calls: []*homeplanev1.ServiceCall{{Domain: "light", Service: "toggle", EntityIds: []string{light}}},
	}
	deliver := func() {
		t.Helper()
		payload, _ := proto.Marshal(cmd)
		if err := srv.Publish(topic.For(e2eHome, topic.Command), payload, false, 1); err != nil {
			t.Fatal(err)
		}
	}
	online := func() bool { p := presence(t, srv); return p != nil && p.GetOnline() }

	stop := startAgent(t, args)
	eventually(t, "online", online)
	deliver()
	eventually(t, "first result", func() bool { _, rs := w.snapshot(); return len(rs) == 1 })
	toggled, _ := sim.State(light)
	if toggled.State == initial.State {
		t.Fatalf("light still %q after the toggle", toggled.State)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// The same command again, as the broker redelivers one whose
	// acknowledgement was lost, now to a restarted agent.
	stop = startAgent(t, args)
	eventually(t, "online after the restart", online)
	deliver()
	eventually(t, "second result", func() bool { _, rs := w.snapshot(); return len(rs) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if now, _ := sim.State(light); now.State != toggled.State {
		t.Fatalf("light %q after the redelivery, want %q: the toggle ran twice", now.State, toggled.State)
	}
	_, rs := w.snapshot()
	if !rs[0].GetOk() || !proto.Equal(rs[0], rs[1]) {
		t.Fatalf("redelivery answered %v, want the first answer %v", rs[1], rs[0])
	}
	files, _ := filepath.Glob(filepath.Join(stateDir, "commands", "*"))
	if len(files) != 1 {
		t.Fatalf("ledger holds %v, want one record", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ledger record mode: %v, %v", st, err)
	}
}
