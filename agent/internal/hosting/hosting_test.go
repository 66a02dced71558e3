package hosting

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
)

const mib = 1 << 20

func open(t *testing.T, dir string, opts Options) *Host {
	t.Helper()
	h, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func allFree(int) bool { return true }

func TestPortsAreNeverShared(t *testing.T) {
	h := open(t, t.TempDir(), Options{FirstPort: 8200, LastPort: 8202, MemoryBytes: 64 * mib * 10, DefaultMemoryBytes: 64 * mib, PortFree: allFree})
	seen := map[int]string{}
	for i := range 3 {
		home := fmt.Sprintf("home-%d", i)
		s, err := h.Admit(home, Limits{})
		if err != nil {
			t.Fatalf("admit %s: %v", home, err)
		}
		if other, dup := seen[s.Port]; dup {
			t.Fatalf("port %d given to %s and %s", s.Port, other, home)
		}
		seen[s.Port] = home
	}
	if _, err := h.Admit("home-3", Limits{}); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("a fourth home on three ports: %v, want ErrPortsExhausted", err)
	}
	again, err := h.Admit("home-1", Limits{MemoryBytes: 32 * mib})
	if err != nil || again.Port != 8201 || again.Limits.MemoryBytes != 32*mib {
		t.Fatalf("admitting a hosted home again: %+v %v", again, err)
	}
	if err := h.Release("home-1"); err != nil {
		t.Fatal(err)
	}
	if s, err := h.Admit("home-3", Limits{}); err != nil || s.Port != 8201 {
		t.Fatalf("a released port goes to the next home: %+v %v", s, err)
	}
}

func TestPortsOtherProcessesHoldAreSkipped(t *testing.T) {
	// A port this test listens on, and the one after it free: the kernel
	// picks the first, so another process may hold the second; try again.
	for range 20 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		busy := l.Addr().(*net.TCPAddr).Port
		h := open(t, t.TempDir(), Options{FirstPort: busy, LastPort: busy + 1, MemoryBytes: 1 << 30})
		s, err := h.Admit("home", Limits{})
		if err != nil {
			l.Close()
			continue
		}
		defer l.Close()
		checkBusySkipped(t, h, s, busy)
		return
	}
	t.Fatal("no free port next to a listened one in 20 tries")
}

func checkBusySkipped(t *testing.T, h *Host, s Slot, busy int) {
	t.Helper()
	if s.Port == busy {
		t.Fatalf("port %d is listened on by this test, yet it was handed out", busy)
	}
	if _, err := h.Admit("other", Limits{}); !errors.Is(err, ErrPortsExhausted) || err.Error() == "" {
		t.Fatalf("= %v, want ErrPortsExhausted", err)
	}
}

func TestMemoryIsNotOvercommitted(t *testing.T) {
	h := open(t, t.TempDir(), Options{FirstPort: 8200, LastPort: 8300, MemoryBytes: 1024 * mib, DefaultMemoryBytes: 256 * mib, PortFree: allFree})
	if _, err := h.Admit("big", Limits{MemoryBytes: 512 * mib, NanoCPUs: 1e9}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Admit("default", Limits{}); err != nil { // books 256 MiB
		t.Fatal(err)
	}
	_, err := h.Admit("too-big", Limits{MemoryBytes: 300 * mib})
	if !errors.Is(err, ErrMemoryExhausted) {
		t.Fatalf("= %v, want ErrMemoryExhausted", err)
	}
	t.Log(err)
	if _, err := h.Resize("big", Limits{MemoryBytes: 800 * mib}); !errors.Is(err, ErrMemoryExhausted) {
		t.Fatalf("growing past the server: %v", err)
	}
	if s, err := h.Resize("big", Limits{MemoryBytes: 768 * mib}); err != nil || s.Limits.MemoryBytes != 768*mib {
		t.Fatalf("growing into what is free: %+v %v", s, err)
	}
	if _, err := h.Resize("nobody", Limits{}); !errors.Is(err, ErrUnknownHome) {
		t.Fatalf("resizing an unknown home: %v", err)
	}
}

func TestBooksSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	opts := Options{FirstPort: 8200, LastPort: 8300, MemoryBytes: 1 << 30, PortFree: allFree}
	h := open(t, dir, opts)
	a, _ := h.Admit("a", Limits{MemoryBytes: 100 * mib})
	b, _ := h.Admit("b", Limits{})
	h.Close() // the agent stops
	h = open(t, dir, opts)
	if got := h.Slots(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("after reopening: %+v, want %+v %+v", got, a, b)
	}
	if c, _ := h.Admit("c", Limits{}); c.Port == a.Port || c.Port == b.Port {
		t.Fatalf("port %d handed out again after a restart", c.Port)
	}
}

func TestConcurrentAdmissionsGetDistinctPorts(t *testing.T) {
	h := open(t, t.TempDir(), Options{FirstPort: 8200, LastPort: 8249, MemoryBytes: 1 << 40, PortFree: allFree})
	var wg sync.WaitGroup
	ports := make([]int, 50)
	for i := range 50 {
		wg.Go(func() {
			s, err := h.Admit(fmt.Sprintf("home-%d", i), Limits{})
			if err != nil {
				t.Error(err)
			}
			ports[i] = s.Port
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{FirstPort: 8300, LastPort: 8200, MemoryBytes: 1}, {FirstPort: 8200, LastPort: 8300}, {FirstPort: 0, LastPort: 70000, MemoryBytes: 1}} {
		if _, err := Open(t.TempDir(), o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}
