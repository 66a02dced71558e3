package hastatus

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/homeplane/homeplane/agent/internal/hasim"
	"github.com/homeplane/homeplane/agent/internal/homeassistant"
	homeplanev1 "github.com/homeplane/homeplane/protocol/gen/homeplane/v1"
	"github.com/homeplane/homeplane/protocol/topic"
	"github.com/homeplane/homeplane/protocol/vocab"
)

// published keeps what the reporter sends.
type published struct {
	mu   sync.Mutex
	evs  []*homeplanev1.InstanceEvent
	tele []*homeplanev1.Telemetry
}

func (p *published) Publish(_ context.Context, kind topic.Kind, msg proto.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch m := msg.(type) {
	case *homeplanev1.InstanceEvent:
		p.evs = append(p.evs, m)
	case *homeplanev1.Telemetry:
		p.tele = append(p.tele, m)
	}
	return nil
}

func (p *published) kinds() []homeplanev1.InstanceEventKind {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []homeplanev1.InstanceEventKind
	for _, e := range p.evs {
		out = append(out, vocab.KindOf(e))
	}
	return out
}

func (p *published) lastStatus() *homeplanev1.Instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tele) == 0 {
		return nil
	}
	return p.tele[len(p.tele)-1].GetInstance()
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sink records what the supervisor would be told.
type sink struct {
	mu      sync.Mutex
	version string
	lastOK  time.Time
}

func (s *sink) Observe(v string, t time.Time) {
	s.mu.Lock()
	s.version, s.lastOK = v, t
	s.mu.Unlock()
}

func (s *sink) get() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.lastOK
}

// start runs a reporter against a client of url, wired as the agent wires it.
func start(t *testing.T, url, token string, opts func(*homeassistant.Client) Options) (*homeassistant.Client, *Reporter, *published) {
	t.Helper()
	pub := &published{}
	var rep *Reporter
	ha := homeassistant.New(url, token, homeassistant.Options{Observe: func(err error) { rep.Observe(err) }})
	rep = New(ha, pub, opts(ha))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ha, rep, pub
}

func TestAdoptModeReportsWhatTheAPIShows(t *testing.T) {
	sim := hasim.New(nil, hasim.Options{Token: "good", Version: "2026.8.1"})
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	_, rep, pub := start(t, ts.URL, "good", func(*homeassistant.Client) Options {
		return Options{Adopt: true, Interval: 20 * time.Millisecond}
	})
	eventually(t, "a healthy status", func() bool {
		in := pub.lastStatus()
		return in != nil && in.GetState() == "running" && in.GetHealth() == "healthy"
	})
	in := pub.lastStatus()
	if in.GetMode() != "adopted" || in.GetVersion() != "2026.8.1" || in.GetLastSuccessAt() == nil || rep.LastOK().IsZero() {
		t.Fatalf("status = %v", in)
	}
	sim.SetUnhealthy(true)
	eventually(t, "starting while Home Assistant answers 503", func() bool {
		in := pub.lastStatus()
		return in.GetHealth() == "starting" && in.GetVersion() == "2026.8.1"
	})
	ts.Close()
	eventually(t, "unknown once nothing answers", func() bool {
		in := pub.lastStatus()
		return in.GetState() == "unknown" && in.GetHealth() == "unhealthy" && in.GetLastSuccessAt() != nil
	})
	if k := pub.kinds(); len(k) != 0 {
		t.Errorf("events without a refusal: %v", k)
	}
}

func TestRefusedTokenIsReportedOnceAndRecoveryToo(t *testing.T) {
	sim := hasim.New(nil, hasim.Options{Token: "good"})
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	ha, rep, pub := start(t, ts.URL, "stale", func(*homeassistant.Client) Options {
		return Options{Interval: time.Hour, RecheckInterval: 20 * time.Millisecond}
	})
	for range 5 {
		_, _ = ha.CallService(context.Background(), "light", "turn_on", map[string]any{"entity_id": "light.kitchen_ceiling"})
	}
	eventually(t, "ha_auth_failed", func() bool { return len(pub.kinds()) == 1 })
	if !rep.Refused() || pub.kinds()[0] != KindAuthFailed || pub.evs[0].GetReason() == "" {
		t.Fatalf("events = %v", pub.evs)
	}
	if sim.CallCount() != 0 {
		t.Fatalf("refused calls reached services: %d", sim.CallCount())
	}
	// The operator gives the agent a valid token.
	ha.SetToken("good")
	eventually(t, "ha_auth_ok", func() bool { k := pub.kinds(); return len(k) == 2 && k[1] == KindAuthOK })
	if rep.Refused() {
		t.Fatal("still refused")
	}
}

func TestManagedModeOnboardsAgainOnlyWhenHomeAssistantHasNoOwner(t *testing.T) {
	t.Run("onboarded instance: report and wait", func(t *testing.T) {
		sim := hasim.New(nil, hasim.Options{Token: "good"})
		ts := httptest.NewServer(sim.Handler())
		t.Cleanup(ts.Close)
		var onboards atomic.Int32
		sk := &sink{}
		ha, _, pub := start(t, ts.URL, "stale", func(*homeassistant.Client) Options {
			return Options{Interval: 20 * time.Millisecond, Sink: sk,
				Reonboard: func(context.Context) error { onboards.Add(1); return nil }}
		})
		_ = ha.Ping(context.Background())
		eventually(t, "ha_auth_failed", func() bool { return len(pub.kinds()) > 0 })
		if k := pub.kinds(); k[0] != KindAuthFailed || onboards.Load() != 0 {
			t.Fatalf("events %v, onboardings %d", k, onboards.Load())
		}
		if v, _ := sk.get(); v != "" {
			t.Errorf("version %q learnt with a refused token", v)
		}
	})
	t.Run("wiped instance: onboard again", func(t *testing.T) {
		sim := hasim.New(nil, hasim.Options{Fresh: true, Version: "2026.9.0"})
		ts := httptest.NewServer(sim.Handler())
		t.Cleanup(ts.Close)
		sk := &sink{}
		ha, _, pub := start(t, ts.URL, "lost", func(ha *homeassistant.Client) Options {
			return Options{Interval: 20 * time.Millisecond, Sink: sk,
				Reonboard: func(ctx context.Context) error {
					tok, err := ha.Onboard(ctx, homeassistant.Owner{Name: "Owner", Username: "owner", Password: "pw", Language: "en"}, "test", 1)
					if err == nil {
						ha.SetToken(tok)
					}
					return err
				}}
		})
		_ = ha.Ping(context.Background())
		eventually(t, "onboarded", func() bool { k := pub.kinds(); return len(k) > 0 && k[0] == KindOnboarded })
		eventually(t, "the version reaches the sink", func() bool { v, ok := sk.get(); return v == "2026.9.0" && !ok.IsZero() })
		if k := pub.kinds(); len(k) != 1 {
			t.Errorf("events = %v, want only onboarded", k)
		}
	})
}

// The last successful call survives an agent restart, and is written by
// the probe or at the end, not by the call itself.
func TestLastSuccessSurvivesARestart(t *testing.T) {
	sim := hasim.New(nil, hasim.Options{Token: "good"})
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	file := filepath.Join(t.TempDir(), "ha-status.json")
	pub := &published{}
	var rep *Reporter
	ha := homeassistant.New(ts.URL, "good", homeassistant.Options{Observe: func(err error) { rep.Observe(err) }})
	rep = New(ha, pub, Options{Interval: time.Hour, StateFile: file})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx); close(done) }()
	eventually(t, "a first success", func() bool { return !rep.LastOK().IsZero() })
	first := rep.LastOK()
	// The probe saves it just after noting it in memory.
	eventually(t, "the first success saved", func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.Contains(string(b), first.UTC().Format(time.RFC3339Nano))
	})
	time.Sleep(5 * time.Millisecond)
	if _, err := ha.CallService(ctx, "light", "turn_on", map[string]any{"entity_id": "light.kitchen_ceiling"}); err != nil {
		t.Fatal(err)
	}
	last := rep.LastOK()
	if !last.After(first) {
		t.Fatalf("last success %v not after %v", last, first)
	}
	if b, err := os.ReadFile(file); err != nil || strings.Contains(string(b), last.UTC().Format(time.RFC3339Nano)) {
		t.Fatalf("the call itself wrote the file: %q, %v", b, err)
	}
	cancel()
	<-done

	// The restarted agent starts from what was saved, with Home Assistant away.
	ts.Close()
	rep2 := New(ha, pub, Options{Adopt: true, Interval: time.Hour, StateFile: file})
	if got := rep2.LastOK(); !got.Equal(last) {
		t.Fatalf("after restart last success = %v, want %v", got, last)
	}
	sk := &sink{}
	rep3 := New(ha, pub, Options{Interval: time.Hour, StateFile: file, Sink: sk})
	ctx3, cancel3 := context.WithCancel(context.Background())
	done3 := make(chan struct{})
	go func() { rep3.Run(ctx3); close(done3) }()
	eventually(t, "the saved time reaches the supervisor", func() bool { _, ok := sk.get(); return ok.Equal(last) })
	cancel3()
	<-done3
}

func TestUnreadableStateFileIsIgnored(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ha-status.json")
	if err := os.WriteFile(file, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := New(homeassistant.New("http://127.0.0.1:1", "x", homeassistant.Options{}), &published{}, Options{StateFile: file})
	if !rep.LastOK().IsZero() {
		t.Fatalf("last success from a broken file: %v", rep.LastOK())
	}
}
