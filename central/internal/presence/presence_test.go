package presence_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/homeplane/homeplane/central/internal/metrictest"
	"github.com/homeplane/homeplane/central/internal/presence"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
)

const home = "3f2a7c9e-1b4d-4e8f-9a6b-0c1d2e3f4a5b"

func TestTracker(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	reg := prometheus.NewRegistry()
	tr, err := presence.New(presence.Options{Registerer: reg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	online := func() float64 { return metrictest.Value(t, reg, "homeplane_central_homes_online") }
	if _, known := tr.Status(home); known || tr.Online(home) {
		t.Fatal("a home never heard of is known")
	}

	tr.Announce(home, &homeplanev1.Presence{Online: true, AgentVersion: string(make([]byte, 100)), HomeAssistantVersion: "2025.1.0"})
	st, known := tr.Status(home)
	if !known || !st.Online || len(st.AgentVersion) != 64 || st.HomeAssistantVersion != "2025.1.0" || !st.LastSeen.Equal(now) {
		t.Fatalf("after presence: %+v, %v", st, known)
	}
	if online() != 1 {
		t.Fatalf("homes_online = %v", online())
	}

	// Connection events win over a presence that still says online.
	tr.SetConnected(home, false)
	if tr.Online(home) || online() != 0 {
		t.Fatalf("online after the connection dropped (gauge %v)", online())
	}
	tr.SetConnected(home, true)
	if !tr.Online(home) || online() != 1 {
		t.Fatal("not online after reconnecting with the presence retained")
	}

	now = now.Add(time.Minute)
	tr.Seen(home)
	if seen, _ := tr.LastSeen(home); !seen.Equal(now) {
		t.Fatalf("last seen %v, want %v", seen, now)
	}
	tr.Announce(home, &homeplanev1.Presence{Online: false}) // the Will
	if tr.Online(home) || online() != 0 {
		t.Fatal("online after the Will")
	}
	if st, _ := tr.Status(home); st.HomeAssistantVersion != "2025.1.0" {
		t.Fatalf("an offline presence cleared the versions: %+v", st)
	}
}

// OnOnline runs once per coming online, not for every message while online.
func TestOnOnline(t *testing.T) {
	came := make(chan string, 10)
	tr, err := presence.New(presence.Options{OnOnline: func(id string) { came <- id }})
	if err != nil {
		t.Fatal(err)
	}
	tr.Announce(home, &homeplanev1.Presence{Online: true})
	tr.Seen(home)
	tr.Announce(home, &homeplanev1.Presence{Online: true})
	tr.SetConnected(home, false)
	tr.SetConnected(home, true)
	for range 2 {
		select {
		case id := <-came:
			if id != home {
				t.Fatalf("online %q", id)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("OnOnline not called")
		}
	}
	select {
	case <-came:
		t.Fatal("OnOnline called while already online")
	case <-time.After(100 * time.Millisecond):
	}
}
