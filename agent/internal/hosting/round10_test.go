package hosting

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/protocol/polltest"
)

// runHomes runs h over dir with a starter that only records which homes it
// started, until the test ends.
func runHomes(t *testing.T, h *Host, dir string) func() map[string]bool {
	t.Helper()
	var mu sync.Mutex
	started := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx, dir, 10*time.Millisecond, func(ctx context.Context, home Home) error {
			mu.Lock()
			started[home.Name] = true
			mu.Unlock()
			<-ctx.Done()
			return nil
		}, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() map[string]bool {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]bool{}
		for k, v := range started {
			out[k] = v
		}
		return out
	}
}

// TestAttacksRound10Homes is the hosting agent's part of the tenth attack
// round (docs/benchmarks.md, "Attacks, round 10"): home directories named
// or filled to collide with another home's container, volume, directory or
// identity. A home that would collide is not hosted and its directory says
// why; the other home runs on.
func TestAttacksRound10Homes(t *testing.T) {
	identity := func(agent, home string) string {
		return `{"agent_id":"` + agent + `","home_id":"` + home + `","mqtt_username":"u","mqtt_password":"p","central_url":"https://c"}`
	}
	rows := []struct {
		name string
		// victim is hosted first; attacker is the directory made next to it.
		victim, attacker string
		files            map[string]string // attacker's files
		link             bool              // attacker is a symlink to the victim's directory
		// wantRefused: the attacker must not be hosted and must carry a
		// refused file whose text holds this.
		wantRefused string
	}{
		{name: "a home named after the victim's set-aside upgrade container", victim: "kitchen", attacker: "kitchen-previous", wantRefused: "previous"},
		{name: "a home named after a standalone agent's set-aside container", victim: "kitchen", attacker: "previous", wantRefused: "previous"},
		{name: "the victim's name in capitals", victim: "kitchen", attacker: "Kitchen", wantRefused: "not a home name"},
		{name: "the victim's name with a unicode look-alike", victim: "kitchen", attacker: "kitchеn", wantRefused: "not a home name"},
		{name: "a name past the length a container name carries", victim: "kitchen", attacker: "kitchen" + strings.Repeat("x", 60), wantRefused: "not a home name"},
		{name: "a name that ends in a dot-dot", victim: "kitchen", attacker: "kitchen..", wantRefused: "not a home name"},
		{name: "a copy of the victim's directory, identity and all", victim: "kitchen", attacker: "kitchen2",
			files: map[string]string{"identity.json": identity("agent-1", "home-1")}, wantRefused: "agent-1"},
		{name: "the victim's home id under another agent id", victim: "kitchen", attacker: "kitchen3",
			files: map[string]string{"identity.json": identity("agent-2", "home-1")}, wantRefused: "home-1"},
		{name: "a symlink to the victim's directory", victim: "kitchen", attacker: "kitchen4", link: true, wantRefused: "not a directory"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			h := open(t, dir, Options{FirstPort: 8200, LastPort: 8209, MemoryBytes: 4 << 30, PortFree: allFree})
			victim := filepath.Join(dir, r.victim)
			if err := os.MkdirAll(victim, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(victim, "identity.json"), []byte(identity("agent-1", "home-1")), 0o600); err != nil {
				t.Fatal(err)
			}
			started := runHomes(t, h, dir)
			polltest.Until(t, 5*time.Second, "the victim hosted", func() bool { return started()[r.victim] })
			attacker := filepath.Join(dir, r.attacker)
			if r.link {
				if err := os.Symlink(victim, attacker); err != nil {
					t.Fatal(err)
				}
			} else if err := os.MkdirAll(attacker, 0o700); err != nil {
				t.Fatal(err)
			}
			for n, body := range r.files {
				if err := os.WriteFile(filepath.Join(attacker, n), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			refusedIn := filepath.Join(attacker, RefusedFile)
			if r.link {
				// The refusal cannot go into the victim's directory.
				refusedIn = filepath.Join(dir, r.attacker+"."+RefusedFile)
			}
			var why []byte
			polltest.Until(t, 5*time.Second, "a refused file saying why", func() bool {
				why, _ = os.ReadFile(refusedIn)
				return len(why) > 0
			})
			if !strings.Contains(string(why), r.wantRefused) {
				t.Errorf("refused: %q, want it to name %q", why, r.wantRefused)
			}
			if s := started(); s[r.attacker] || len(s) != 1 {
				t.Errorf("homes started: %v, want only %s", s, r.victim)
			}
			if _, err := os.Stat(filepath.Join(victim, RefusedFile)); err == nil {
				t.Error("the victim's directory got a refused file")
			}
			for _, s := range h.Slots() {
				if s.HomeID != r.victim {
					t.Errorf("slot booked for %q", s.HomeID)
				}
			}
		})
	}
}

// TestAttacksRound10TwoAgentsOneDirectory: a second hosting agent started
// on the homes directory another one runs must be refused, or both would
// run every home's container and identity.
func TestAttacksRound10TwoAgentsOneDirectory(t *testing.T) {
	dir := t.TempDir()
	opts := Options{FirstPort: 8200, LastPort: 8209, MemoryBytes: 4 << 30, PortFree: allFree}
	first := open(t, dir, opts)
	second, err := Open(dir, opts)
	if err == nil {
		second.Close()
		t.Fatal("a second agent opened the books another agent holds")
	}
	if !strings.Contains(err.Error(), "another") {
		t.Errorf("error %q does not say another agent holds the directory", err)
	}
	first.Close()
	again, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("the books not opened once the first agent closed them: %v", err)
	}
	again.Close()
}

// TestAttacksRound10ReleaseInFlight: a home released while its agent is
// still busy keeps its port until the agent returned, so a home admitted
// meanwhile gets another port.
func TestAttacksRound10ReleaseInFlight(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{FirstPort: 8200, LastPort: 8201, MemoryBytes: 4 << 30, PortFree: allFree})
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o700); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	homes := map[string]Home{}
	finish := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.Run(ctx, dir, 10*time.Millisecond, func(ctx context.Context, home Home) error {
			mu.Lock()
			homes[home.Name] = home
			mu.Unlock()
			<-ctx.Done()
			if home.Name == "a" {
				<-finish // a command still in flight for the released home
			}
			return nil
		}, slog.New(slog.DiscardHandler))
	}()
	defer func() { cancel(); <-done }()
	get := func(n string) (Home, bool) { mu.Lock(); defer mu.Unlock(); hm, ok := homes[n]; return hm, ok }
	polltest.Until(t, 5*time.Second, "a hosted", func() bool { _, ok := get("a"); return ok })
	a, _ := get("a")
	if err := a.Release("released by central"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 5*time.Second, "b hosted", func() bool { _, ok := get("b"); return ok })
	if b, _ := get("b"); b.Slot.Port == a.Slot.Port {
		t.Errorf("b got port %d while a's agent still runs on it", b.Slot.Port)
	}
	close(finish)
	polltest.Until(t, 5*time.Second, "a's slot freed", func() bool { return len(h.Slots()) == 1 })
}
