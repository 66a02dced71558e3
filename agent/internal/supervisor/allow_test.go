package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestImagePolicy(t *testing.T) {
	p, err := newImagePolicy(append([]string{"registry.example:5000/homes/ha:2026.1", "mirror.example/ha/*"}, OfficialImages...))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		ref   string
		allow bool
	}{
		{"ghcr.io/home-assistant/home-assistant:stable", true},
		{"ghcr.io/home-assistant/home-assistant@sha256:" + strings.Repeat("a", 64), true},
		{"homeassistant/home-assistant:2026.1", true},
		{"docker.io/homeassistant/home-assistant", true},
		{"registry.example:5000/homes/ha:2026.2", true},
		{"mirror.example/ha/home-assistant:1", true},
		{"mirror.example/hax/home-assistant:1", false},
		{"mirror.example/ha", false},
		{"ghcr.io/home-assistant/home-assistant-evil:stable", false},
		{"ghcr.io/evil/home-assistant:stable", false},
		{"evil.example/miner:latest", false},
		{"home-assistant:stable", false}, // docker.io/library/home-assistant
		{"UPPER/case", false},
		{"", false},
	}
	for _, c := range cases {
		t.Run(c.ref, func(t *testing.T) {
			err := p.check(c.ref)
			if c.allow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.allow && !errors.Is(err, ErrImageNotAllowed) {
				t.Fatalf("check = %v, want ErrImageNotAllowed", err)
			}
		})
	}
	if _, err := newImagePolicy([]string{"Not A Ref", "bad//*"}); err == nil {
		t.Fatal("invalid entries accepted")
	}
}

// TestForeignImageRefused is row 14 of the attack suite: a compromised
// central asks the agent to provision or upgrade to an image of its choice.
// The supervisor refuses before Docker is asked (it has none here: any
// Docker call would panic).
func TestForeignImageRefused(t *testing.T) {
	s, err := New(nil, &recorder{}, "agent-x", t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Provision(ctx, Spec{Image: "evil.example/miner:latest"}); !errors.Is(err, ErrImageNotAllowed) {
		t.Fatalf("provision = %v, want ErrImageNotAllowed", err)
	}
	err = s.Upgrade(ctx, "ghcr.io/evil/home-assistant:stable")
	if !errors.Is(err, ErrImageNotAllowed) || !strings.Contains(err.Error(), "ghcr.io/home-assistant/home-assistant") {
		t.Fatalf("upgrade = %v, want ErrImageNotAllowed naming the allowed repositories", err)
	}
	if _, err := New(nil, &recorder{}, "agent-x", t.TempDir(), Options{AllowedImages: []string{"::"}}); err == nil {
		t.Fatal("invalid allow-list accepted")
	}
}

// TestForeignImageLeavesInstanceRunning runs the same attack against a
// running instance on the real Docker Engine: the refused upgrade changes
// nothing.
func TestForeignImageLeavesInstanceRunning(t *testing.T) {
	_, imgs := needDocker(t)
	f := newFixture(t, func(o *Options) { o.AllowedImages = []string{imgs.v1} })
	if err := f.sup.Provision(f.ctx(), Spec{Image: f.imgs.v1}); err != nil {
		t.Fatal(err)
	}
	f.waitHealthy(15 * time.Second)
	if err := f.sup.Upgrade(f.ctx(), "evil.example/miner:latest"); !errors.Is(err, ErrImageNotAllowed) {
		t.Fatalf("upgrade = %v, want ErrImageNotAllowed", err)
	}
	st := f.sup.Status(context.Background())
	if st.Image != f.imgs.v1 || st.State != StateRunning {
		t.Fatalf("after the refused upgrade: image %q state %q", st.Image, st.State)
	}
	if evs := f.rec.events("upgraded"); len(evs) != 0 {
		t.Fatalf("upgraded events: %v", evs)
	}
}
