package hosting

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homeplane/homeplane/protocol/polltest"
)

// A released home's agent ends with ErrReleased, its slot is freed only
// after it returned, and it is not hosted again; a removed directory is a
// release too. Central's limits survive a restart of the books.
func TestReleasedHomesEndAndStayEnded(t *testing.T) {
	dir := t.TempDir()
	h := open(t, dir, Options{FirstPort: 8200, LastPort: 8209, MemoryBytes: 4 << 30, PortFree: allFree})
	for _, n := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	homes := map[string]Home{}
	causes := map[string]error{}
	starts := map[string]int{}
	start := func(ctx context.Context, home Home) error {
		mu.Lock()
		homes[home.Name] = home
		starts[home.Name]++
		mu.Unlock()
		<-ctx.Done()
		// The container is removed here, while the slot is still booked.
		booked := false
		for _, s := range h.Slots() {
			booked = booked || s.HomeID == home.Name
		}
		mu.Lock()
		causes[home.Name] = context.Cause(ctx)
		if !booked {
			causes[home.Name] = errors.New("slot freed before the home's agent returned")
		}
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, dir, 10*time.Millisecond, start, slog.New(slog.DiscardHandler)) }()
	got := func(name string) (Home, error, int) {
		mu.Lock()
		defer mu.Unlock()
		return homes[name], causes[name], starts[name]
	}
	polltest.Until(t, 5*time.Second, "both homes started", func() bool {
		_, _, a := got("a")
		_, _, b := got("b")
		return a == 1 && b == 1
	})
	if _, err := h.Resize("b", Limits{MemoryBytes: 100 << 20}); err != nil {
		t.Fatal(err)
	}

	a, _, _ := got("a")
	if err := a.Release("released by central"); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 5*time.Second, "a ended and its slot freed", func() bool {
		_, cause, _ := got("a")
		return cause != nil && len(h.Slots()) == 1
	})
	if _, cause, _ := got("a"); !errors.Is(cause, ErrReleased) {
		t.Fatalf("a ended with %v", cause)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a", ReleasedFile)); err != nil || !strings.Contains(string(b), "released by central") {
		t.Fatalf("released file: %q %v", b, err)
	}
	time.Sleep(50 * time.Millisecond) // a few scans
	if _, _, n := got("a"); n != 1 {
		t.Fatalf("a released home was started again (%d starts)", n)
	}

	if err := os.RemoveAll(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	polltest.Until(t, 5*time.Second, "b ended and its slot freed", func() bool {
		_, cause, _ := got("b")
		return cause != nil && len(h.Slots()) == 0
	})
	if _, cause, _ := got("b"); !errors.Is(cause, ErrReleased) {
		t.Fatalf("b ended with %v", cause)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Central's limits win over limits.json when the books are read again.
func TestCentralLimitsSurviveTheBooks(t *testing.T) {
	dir := t.TempDir()
	opts := Options{FirstPort: 8200, LastPort: 8201, MemoryBytes: 4 << 30, PortFree: allFree}
	h := open(t, dir, opts)
	if _, err := h.Admit("a", Limits{MemoryBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Resize("a", Limits{MemoryBytes: 200 << 20}); err != nil {
		t.Fatal(err)
	}
	h.Close() // the agent stops
	h = open(t, dir, opts)
	s, err := h.Admit("a", Limits{MemoryBytes: 64 << 20})
	if err != nil || s.Limits.MemoryBytes != 200<<20 || !s.Central {
		t.Fatalf("after restart: %+v %v", s, err)
	}
}
